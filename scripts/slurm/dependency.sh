# Sourced by scripts/slurm/submit and scripts/slurm/requeue.
#
# finish_dependency ARRAY_JOB PARTS: the finishing job's dependency, every task by name
# (afterok:A_0:A_1:...). Not afterok:A, the whole array: Slurm (22.05) marks that failed
# for good once any task fails or is cancelled, even after the task is requeued and
# succeeds; a task's own entry follows its state when the dependency is set again.
finish_dependency() {
    local array_job=$1 parts=$2 dependency=afterok task
    for ((task = 0; task < parts; task++)); do
        dependency+=":${array_job}_$task"
    done
    echo "$dependency"
}
