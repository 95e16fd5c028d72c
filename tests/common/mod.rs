//! What every test that runs the `softtext` binary shares.

use std::path::PathBuf;
use std::process::Command;

/// The repository root: the binary runs there, so the fixture paths in configs resolve.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `softtext`, run in the repository root, keeping checkpoint fingerprint stamps in the
/// build folder (not the user's cache) and inheriting no Slurm array variables (they would
/// make `encode-images` encode one shard).
pub fn softtext_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_softtext"));
    command
        .current_dir(root())
        .env("SOFTTEXT_CACHE", root().join("target/test-softtext-cache"))
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("SLURM_ARRAY_TASK_COUNT")
        .env_remove("SLURM_ARRAY_TASK_MIN");
    command
}
