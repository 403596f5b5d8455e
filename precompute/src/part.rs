//! Which share of a split run this process does: `--part i/n`, or the part a batch
//! scheduler gave the task it runs in.
//!
//! A [`Part`] `i/n` extracts the chunks `k` with `k % n == i`. [`PartArgs`] is the
//! `--part`/`--parts` pair that `build` and `extract` take; without `--part`, the rule
//! [`scheduler_part`] reads the part from the environment a scheduler sets:
//!
//! - a Slurm job array task (`sbatch --array=MIN-MAX`): part `SLURM_ARRAY_TASK_ID - MIN`
//!   of `SLURM_ARRAY_TASK_COUNT`;
//! - a Kubernetes Indexed Job: part `JOB_COMPLETION_INDEX` of `--parts N` (the pod does not
//!   see the Job's completion count, so it is given as a flag).
//!
//! A half-set environment is an error naming what is missing: a task that silently ran
//! the whole collection, or the wrong share, would cost a cluster's hours.
//!
//! ```
//! use std::collections::HashMap;
//! use precompute::part::{Part, scheduler_part};
//!
//! let slurm: HashMap<String, String> = [
//!     ("SLURM_ARRAY_TASK_ID", "5"),
//!     ("SLURM_ARRAY_TASK_MIN", "4"),
//!     ("SLURM_ARRAY_TASK_COUNT", "4"),
//! ]
//! .map(|(k, v)| (k.to_owned(), v.to_owned()))
//! .into();
//! assert_eq!(scheduler_part(&slurm, None), Ok(Some(Part { index: 1, count: 4 })));
//! ```

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroUsize;
use std::str::FromStr;

use clap::Args;

/// `i/n`: this machine's share of a split run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Part {
    pub index: usize,
    pub count: usize,
}

impl Part {
    /// The whole run as one part.
    pub const WHOLE: Part = Part { index: 0, count: 1 };

    /// The candidates this part of a split build inspects.
    pub fn share(self) -> ingest::Share {
        ingest::Share {
            index: self.index,
            count: self.count,
        }
    }
}

impl FromStr for Part {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (index, count) = text
            .split_once('/')
            .ok_or_else(|| format!("'{text}' is not i/n"))?;
        let index: usize = index
            .trim()
            .parse()
            .map_err(|_| format!("'{text}': i is not a number"))?;
        let count: usize = count
            .trim()
            .parse()
            .map_err(|_| format!("'{text}': n is not a number"))?;
        if count == 0 || index >= count {
            return Err(format!("'{text}': need 0 <= i < n"));
        }
        Ok(Self { index, count })
    }
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// `--part` and `--parts`: the share of a split run a command does.
#[derive(Args, Clone, Debug, Default)]
pub struct PartArgs {
    /// Do only part `i` of `n` (`0/4` .. `3/4`) of a split run. Without it, a Slurm job
    /// array task takes its part from `SLURM_ARRAY_TASK_ID`, `_MIN` and `_COUNT`, and a
    /// Kubernetes Indexed Job pod from `JOB_COMPLETION_INDEX` and `--parts`.
    #[arg(long)]
    part: Option<Part>,
    /// The number of parts of a Kubernetes Indexed Job (its `completions`); with Slurm,
    /// checked against `SLURM_ARRAY_TASK_COUNT`.
    #[arg(long)]
    parts: Option<NonZeroUsize>,
}

impl PartArgs {
    /// The part to do: `--part` when given, else the scheduler's, else `None` (all of it).
    pub fn part(&self) -> Result<Option<Part>, SchedulerPartError> {
        if let Some(part) = self.part {
            return Ok(Some(part));
        }
        // Non-UTF-8 variables are none of the scheduler's.
        let environment: HashMap<String, String> = std::env::vars_os()
            .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
            .collect();
        scheduler_part(&environment, self.parts)
    }
}

const SLURM_ID: &str = "SLURM_ARRAY_TASK_ID";
const SLURM_MIN: &str = "SLURM_ARRAY_TASK_MIN";
const SLURM_MAX: &str = "SLURM_ARRAY_TASK_MAX";
const SLURM_COUNT: &str = "SLURM_ARRAY_TASK_COUNT";
const KUBERNETES_INDEX: &str = "JOB_COMPLETION_INDEX";

/// Why the scheduler's environment names no part.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SchedulerPartError {
    /// Some of the Slurm array variables are set, not all.
    #[error(
        "half a Slurm array task's environment: {missing} missing beside {present}; a task \
         needs {SLURM_ID}, {SLURM_MIN} and {SLURM_COUNT} (or pass --part i/n)"
    )]
    SlurmIncomplete { present: String, missing: String },
    /// A variable that must hold a whole number does not.
    #[error("{name}={value} is not a whole number")]
    NotANumber { name: &'static str, value: String },
    /// The array's task ids are not `MIN..=MAX` with step 1, so ids do not map onto parts.
    #[error(
        "the Slurm array's tasks run from {min} to {max} but number {count}: a split run needs \
         the ids MIN-MAX with step 1 (sbatch --array=0-{last})",
        last = count.saturating_sub(1)
    )]
    SlurmArrayNotContiguous {
        min: usize,
        max: usize,
        count: usize,
    },
    /// A task id outside the parts.
    #[error("{name}={index} is not one of the {count} parts (0 to {last})", last = count - 1)]
    OutOfRange {
        name: &'static str,
        index: usize,
        count: usize,
    },
    /// An Indexed Job's index without the count of parts.
    #[error(
        "{KUBERNETES_INDEX}={index} is set but --parts is not: pass the Indexed Job's \
         completions as --parts N (or pass --part i/n)"
    )]
    PartsMissing { index: usize },
    /// `--parts` outside an Indexed Job or a Slurm array.
    #[error(
        "--parts {parts} is given but neither {KUBERNETES_INDEX} (a Kubernetes Indexed Job) \
         nor {SLURM_ID} (a Slurm array task) is set: pass --part i/n"
    )]
    IndexMissing { parts: usize },
    /// `--parts` and the Slurm array disagree.
    #[error("--parts {parts} but {SLURM_COUNT}={count}: the array must have one task per part")]
    PartsDisagree { parts: usize, count: usize },
    /// Both schedulers' variables are set.
    #[error(
        "both {SLURM_ID} (a Slurm array task) and {KUBERNETES_INDEX} (a Kubernetes Indexed \
         Job) are set: pass --part i/n"
    )]
    TwoSchedulers,
}

/// The part a scheduler gave this task, read from `environment` (`None` outside a job
/// array or an Indexed Job); `parts` is `--parts`.
pub fn scheduler_part(
    environment: &HashMap<String, String>,
    parts: Option<NonZeroUsize>,
) -> Result<Option<Part>, SchedulerPartError> {
    let number = |name: &'static str| {
        environment
            .get(name)
            .map(|value| whole_number(name, value))
            .transpose()
    };
    let slurm_names = [SLURM_ID, SLURM_MIN, SLURM_COUNT];
    let slurm_set = slurm_names
        .iter()
        .any(|name| environment.contains_key(*name));
    let parts = parts.map(NonZeroUsize::get);
    match (slurm_set, number(KUBERNETES_INDEX)?) {
        (true, Some(_)) => Err(SchedulerPartError::TwoSchedulers),
        (true, None) => {
            let (present, missing): (Vec<&str>, Vec<&str>) = slurm_names
                .iter()
                .partition(|name| environment.contains_key(**name));
            if !missing.is_empty() {
                return Err(SchedulerPartError::SlurmIncomplete {
                    present: present.join(", "),
                    missing: missing.join(", "),
                });
            }
            let [id, min, count] = slurm_names.map(|name| whole_number(name, &environment[name]));
            let (id, min, count) = (id?, min?, count?);
            if let Some(max) = number(SLURM_MAX)?
                && max.checked_sub(min).map(|span| span + 1) != Some(count)
            {
                return Err(SchedulerPartError::SlurmArrayNotContiguous { min, max, count });
            }
            if let Some(parts) = parts.filter(|&parts| parts != count) {
                return Err(SchedulerPartError::PartsDisagree { parts, count });
            }
            match id.checked_sub(min).filter(|&index| index < count) {
                Some(index) => Ok(Some(Part { index, count })),
                None => Err(SchedulerPartError::OutOfRange {
                    name: SLURM_ID,
                    index: id,
                    count,
                }),
            }
        }
        (false, Some(index)) => {
            let count = parts.ok_or(SchedulerPartError::PartsMissing { index })?;
            if index >= count {
                return Err(SchedulerPartError::OutOfRange {
                    name: KUBERNETES_INDEX,
                    index,
                    count,
                });
            }
            Ok(Some(Part { index, count }))
        }
        (false, None) => match parts {
            Some(parts) => Err(SchedulerPartError::IndexMissing { parts }),
            None => Ok(None),
        },
    }
}

fn whole_number(name: &'static str, value: &str) -> Result<usize, SchedulerPartError> {
    value
        .trim()
        .parse()
        .map_err(|_| SchedulerPartError::NotANumber {
            name,
            value: value.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn environment(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    fn parts(n: usize) -> Option<NonZeroUsize> {
        NonZeroUsize::new(n)
    }

    #[test]
    fn outside_a_scheduler_there_is_no_part() {
        assert_eq!(
            scheduler_part(&environment(&[("HOME", "/root")]), None),
            Ok(None)
        );
    }

    #[test]
    fn a_slurm_array_task_is_its_id_less_the_first_id() {
        let task = |id: &str| {
            environment(&[
                (SLURM_ID, id),
                (SLURM_MIN, "10"),
                (SLURM_MAX, "13"),
                (SLURM_COUNT, "4"),
            ])
        };
        assert_eq!(
            scheduler_part(&task("10"), None),
            Ok(Some(Part { index: 0, count: 4 }))
        );
        assert_eq!(
            scheduler_part(&task("13"), parts(4)),
            Ok(Some(Part { index: 3, count: 4 }))
        );
        // Without SLURM_ARRAY_TASK_MAX (not every Slurm sets it) the rule still holds.
        let no_max = environment(&[(SLURM_ID, "2"), (SLURM_MIN, "0"), (SLURM_COUNT, "3")]);
        assert_eq!(
            scheduler_part(&no_max, None),
            Ok(Some(Part { index: 2, count: 3 }))
        );
    }

    #[test]
    fn a_half_set_slurm_environment_names_what_is_missing() {
        let error = scheduler_part(&environment(&[(SLURM_ID, "3")]), None).unwrap_err();
        assert_eq!(
            error,
            SchedulerPartError::SlurmIncomplete {
                present: SLURM_ID.into(),
                missing: format!("{SLURM_MIN}, {SLURM_COUNT}"),
            }
        );
        assert!(
            error.to_string().starts_with(
                "half a Slurm array task's environment: SLURM_ARRAY_TASK_MIN, \
                 SLURM_ARRAY_TASK_COUNT missing beside SLURM_ARRAY_TASK_ID;"
            ),
            "{error}"
        );
        let error = scheduler_part(&environment(&[(SLURM_COUNT, "4"), (SLURM_MIN, "0")]), None)
            .unwrap_err();
        assert_eq!(
            error,
            SchedulerPartError::SlurmIncomplete {
                present: format!("{SLURM_MIN}, {SLURM_COUNT}"),
                missing: SLURM_ID.into(),
            }
        );
    }

    #[test]
    fn slurm_ids_that_are_no_parts_are_refused() {
        let slurm = |id: &str, min: &str, max: &str, count: &str| {
            environment(&[
                (SLURM_ID, id),
                (SLURM_MIN, min),
                (SLURM_MAX, max),
                (SLURM_COUNT, count),
            ])
        };
        // --array=0-6:2 or --array=0,2,4,6: four tasks whose ids are not 0..4.
        assert_eq!(
            scheduler_part(&slurm("2", "0", "6", "4"), None),
            Err(SchedulerPartError::SlurmArrayNotContiguous {
                min: 0,
                max: 6,
                count: 4
            })
        );
        let no_max =
            |id: &str| environment(&[(SLURM_ID, id), (SLURM_MIN, "1"), (SLURM_COUNT, "2")]);
        for id in ["0", "3"] {
            assert_eq!(
                scheduler_part(&no_max(id), None),
                Err(SchedulerPartError::OutOfRange {
                    name: SLURM_ID,
                    index: id.parse().unwrap(),
                    count: 2
                })
            );
        }
        assert_eq!(
            scheduler_part(&slurm("x", "0", "3", "4"), None),
            Err(SchedulerPartError::NotANumber {
                name: SLURM_ID,
                value: "x".into()
            })
        );
        assert_eq!(
            scheduler_part(&slurm("1", "0", "3", "4"), parts(8)),
            Err(SchedulerPartError::PartsDisagree { parts: 8, count: 4 })
        );
    }

    #[test]
    fn an_indexed_job_needs_its_count_as_a_flag() {
        let pod = |index: &str| environment(&[(KUBERNETES_INDEX, index)]);
        assert_eq!(
            scheduler_part(&pod("2"), parts(3)),
            Ok(Some(Part { index: 2, count: 3 }))
        );
        let error = scheduler_part(&pod("2"), None).unwrap_err();
        assert_eq!(error, SchedulerPartError::PartsMissing { index: 2 });
        assert!(error.to_string().contains("--parts N"), "{error}");
        assert_eq!(
            scheduler_part(&pod("3"), parts(3)),
            Err(SchedulerPartError::OutOfRange {
                name: KUBERNETES_INDEX,
                index: 3,
                count: 3
            })
        );
        assert_eq!(
            scheduler_part(&environment(&[]), parts(3)),
            Err(SchedulerPartError::IndexMissing { parts: 3 })
        );
    }

    #[test]
    fn two_schedulers_at_once_are_refused() {
        let both = environment(&[
            (SLURM_ID, "0"),
            (SLURM_MIN, "0"),
            (SLURM_COUNT, "2"),
            (KUBERNETES_INDEX, "0"),
        ]);
        assert_eq!(
            scheduler_part(&both, parts(2)),
            Err(SchedulerPartError::TwoSchedulers)
        );
    }

    #[test]
    fn an_explicit_part_wins_over_the_environment() {
        // `PartArgs::part` returns `--part` before it reads the environment at all.
        let args = PartArgs {
            part: Some(Part { index: 1, count: 2 }),
            parts: parts(7),
        };
        assert_eq!(args.part(), Ok(Some(Part { index: 1, count: 2 })));
    }
}
