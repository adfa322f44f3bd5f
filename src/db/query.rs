//! The traced query builders: sqlx's `Query`/`QueryAs` with the SQL text
//! kept for the span, run within the timeout inside [`super::trace::traced`].

use sqlx::{
    Any, Encode, FromRow, Type,
    any::{AnyArguments, AnyRow},
    query::{Query, QueryAs},
};

use super::{Db, DbError, trace::traced};

/// [`Db::query_as`]: bind values, then fetch.
#[must_use = "a query does nothing until it is fetched"]
pub struct TracedQueryAs<'d, O> {
    db: &'d Db,
    sql: &'static str,
    inner: QueryAs<'static, Any, O, AnyArguments>,
}

impl<'d, O> TracedQueryAs<'d, O>
where
    O: for<'r> FromRow<'r, AnyRow> + Send + Unpin + 'static,
{
    pub(super) fn new(
        db: &'d Db,
        sql: &'static str,
        inner: QueryAs<'static, Any, O, AnyArguments>,
    ) -> Self {
        Self { db, sql, inner }
    }

    /// Binds the next `$N` placeholder.
    pub fn bind<T: 'static + Encode<'static, Any> + Type<Any> + Send>(mut self, value: T) -> Self {
        self.inner = self.inner.bind(value);
        self
    }

    /// Every row.
    pub async fn fetch_all(self) -> Result<Vec<O>, DbError> {
        let pool = &self.db.0.pool;
        traced(self.db, self.sql, self.inner.fetch_all(pool)).await
    }

    /// The first row, if any.
    pub async fn fetch_optional(self) -> Result<Option<O>, DbError> {
        let pool = &self.db.0.pool;
        traced(self.db, self.sql, self.inner.fetch_optional(pool)).await
    }
}

/// [`Db::query`]: bind values, then execute.
#[must_use = "a statement does nothing until it is executed"]
pub struct TracedQuery<'d> {
    db: &'d Db,
    sql: &'static str,
    inner: Query<'static, Any, AnyArguments>,
}

impl<'d> TracedQuery<'d> {
    pub(super) fn new(
        db: &'d Db,
        sql: &'static str,
        inner: Query<'static, Any, AnyArguments>,
    ) -> Self {
        Self { db, sql, inner }
    }

    /// Binds the next `$N` placeholder.
    pub fn bind<T: 'static + Encode<'static, Any> + Type<Any> + Send>(mut self, value: T) -> Self {
        self.inner = self.inner.bind(value);
        self
    }

    /// Runs the statement; the number of rows it affected.
    pub async fn execute(self) -> Result<u64, DbError> {
        let pool = &self.db.0.pool;
        let done = traced(self.db, self.sql, self.inner.execute(pool)).await?;
        Ok(done.rows_affected())
    }
}
