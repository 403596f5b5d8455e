//! Decision branches and search by classification.
