//! The lifecycle verbs and the on-disk state of a container, one file per verb. Each verb loads the
//! [`state::State`], checks the live [`state::Status`] allows it, and acts.

pub mod create;
pub mod delete;
pub mod exec;
pub mod kill;
pub mod query;
pub mod run;
pub mod start;
pub mod state;
pub mod update;

pub use create::{create, CreateOptions, Created};
pub use delete::delete;
pub use exec::{exec, ExecOptions};
pub use kill::{kill, parse_signal};
pub use query::{list, pause, ps};
pub use run::run;
pub use start::start;
pub use state::{State, Status};
pub use update::update;
