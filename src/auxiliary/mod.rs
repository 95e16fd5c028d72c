//! Inputs that come from outside CLIP's hard prompts: the auxiliary classifier whose top-2
//! classes soft texts relate.

pub mod classifier;
pub mod predictions;
