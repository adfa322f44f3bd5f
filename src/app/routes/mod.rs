//! One file per resource, each handler next to its route.

pub mod database;
pub mod events;
pub mod external;
pub mod health;
pub mod root;
pub mod users;
