//! A Mesos agent's files API (`/agent/<agent ID>/files/read` through Admin Router; the
//! agent's `/files/read` endpoint): `path`, `offset` and `length` in, `{"data": "...",
//! "offset": N}` out. With `offset=-1` the reply's `offset` is the file's length and
//! `data` is empty.
//!
//! A pod task's sandbox: the agent exposes each executor's latest run at the virtual
//! path `/frameworks/<framework ID>/executors/<executor ID>/runs/latest` (Mesos
//! `slave/paths.cpp`, `getExecutorVirtualPath`), and the default executor, which runs
//! the SDK's pods, links `tasks/<task ID>` there to the task's container sandbox
//! (Mesos `launcher/default_executor.cpp`). A task's stderr is `stderr` in it.

use serde::{Deserialize, Serialize};

/// One read.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct FileChunk {
    /// The bytes read, as text.
    #[serde(default)]
    pub data: String,
    /// Where they start; with `offset=-1` asked, the file's length.
    pub offset: u64,
}

/// The virtual path of a pod task's stderr on its agent.
pub fn task_stderr(framework: &str, executor: &str, task: &str) -> String {
    format!("/frameworks/{framework}/executors/{executor}/runs/latest/tasks/{task}/stderr")
}
