//! The OpenTelemetry context code runs in: the innermost `tracing` span that
//! has an OpenTelemetry span (a handler's `#[instrument]` function), else the
//! current OpenTelemetry context (the request's SERVER span, made current by
//! the request middleware). The `tracing` layer does not attach contexts on
//! poll (`with_context_activation(false)`), so both places are asked.

use opentelemetry::{Context, trace::TraceContextExt};
use tracing::Dispatch;
use tracing_opentelemetry::get_otel_context;
use tracing_subscriber::registry::{LookupSpan, Registry};

/// The context a new child span or a log line belongs to.
pub(crate) fn context() -> Context {
    innermost_traced_span().unwrap_or_else(Context::current)
}

/// The context of the innermost `tracing` span that has an OpenTelemetry span.
pub(crate) fn innermost_traced_span() -> Option<Context> {
    let dispatch = tracing::dispatcher::get_default(Dispatch::clone);
    let current = dispatch.current_span();
    let registry = dispatch.downcast_ref::<Registry>()?;
    let leaf = registry.span(current.id()?)?;
    leaf.scope().find_map(|span| {
        get_otel_context(&span.id(), &dispatch).filter(|cx| cx.span().span_context().is_valid())
    })
}
