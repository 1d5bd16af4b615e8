//! OSV `affected` evaluation (the schema's Evaluation section): ranges and
//! `versions` lists against one version.
