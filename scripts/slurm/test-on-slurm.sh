#!/usr/bin/env bash
# scripts/slurm/submit on a real Slurm: a one-node cluster (Debian's slurmctld, slurmd and
# munge, installed when missing) started by this script as its own processes, in a temporary
# folder, and stopped when it ends. It builds a small collection (precompute synth scenes,
# the test model clip/fixtures/hf) as a 4-task array, the compact rows, a 2-task tree array
# and a finishing job, and checks that the dataset equals a one-machine build byte for byte
# (every file of the folder and its thumbnails) and that the finishing job built no tree;
# then again, the trees in the finishing job, with one task killed mid-run (scancel
# --signal=KILL) and requeued (scontrol requeue). Prints the Slurm runs' wall times beside
# the one-machine build's.
#
# Needs root (slurmd starts jobs as their users) and, when Slurm or munge is missing, apt.
# Where either is lacking it says so and exits 0 without testing: SLURM_TEST_REQUIRED=1
# makes that a failure. PRECOMPUTE=PATH tests that binary instead of building one.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"

skip() {
    if [ "${SLURM_TEST_REQUIRED:-0}" = 1 ]; then
        echo "test-on-slurm: cannot run: $*" >&2
        exit 1
    fi
    echo "test-on-slurm: skipped: $*"
    exit 0
}

# Run inside a scheduler's task, the one-machine build would take its part from these.
unset SLURM_ARRAY_TASK_ID SLURM_ARRAY_TASK_MIN SLURM_ARRAY_TASK_MAX SLURM_ARRAY_TASK_COUNT \
    JOB_COMPLETION_INDEX
[ "$(id -u)" = 0 ] || skip "not root (slurmd must run as root to start jobs)"
missing=()
for command_and_package in slurmctld:slurmctld slurmd:slurmd sbatch:slurm-client munged:munge; do
    command -v "${command_and_package%%:*}" >/dev/null || missing+=("${command_and_package#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    command -v apt-get >/dev/null || skip "${missing[*]} missing and no apt-get to install them"
    echo "installing ${missing[*]} (apt)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null ||
        skip "apt-get could not install ${missing[*]}"
fi

if [ -z "${PRECOMPUTE:-}" ]; then
    cargo build --locked -p precompute
    PRECOMPUTE="${CARGO_TARGET_DIR:-$repo/target}/debug/precompute"
fi

work=$(mktemp -d /tmp/test-on-slurm.XXXXXX)
pids=()
stop_cluster() {
    local status=$?
    # Our jobs first (while the controller runs), then our daemons, newest first.
    [ -f "$work/slurm.conf" ] &&
        SLURM_CONF="$work/slurm.conf" timeout 10 scancel --quiet --user=root 2>/dev/null || true
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill "${pids[i]}" 2>/dev/null || true
        wait "${pids[i]}" 2>/dev/null || true
    done
    if [ $status = 0 ]; then
        rm -rf "$work"
    else
        echo "test-on-slurm: FAILED; logs and folders kept in $work" >&2
    fi
}
trap stop_cluster EXIT

# munge: the key and socket are this test's own, so a munged of the machine is left alone.
mkdir -m 755 "$work/munge"
dd if=/dev/urandom of="$work/munge/key" bs=1024 count=1 status=none
chmod 400 "$work/munge/key"
munged --foreground --force --socket="$work/munge/socket" --key-file="$work/munge/key" \
    --pid-file="$work/munge/pid" --seed-file="$work/munge/seed" \
    --log-file="$work/munge/log" >"$work/munge/out" 2>&1 &
pids+=($!)

# A one-node cluster. The node claims 4 CPUs whatever it has (config_overrides), so the
# array's 4 tasks run at once. No cgroups: process tracking by /proc (proctrack/linuxproc),
# no task confinement (task/none), so it runs in a container without systemd.
node=$(hostname -s)
port=$((20000 + RANDOM % 20000))
mkdir -p "$work/state" "$work/spool" "$work/log"
cat >"$work/slurm.conf" <<CONF
ClusterName=test-on-slurm
SlurmctldHost=$node
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$work/munge/socket
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
PlugStackConfig=$work/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
JobRequeue=1
ReturnToService=2
MpiDefault=none
NodeName=$node NodeAddr=127.0.0.1 CPUs=4 RealMemory=1000 State=UNKNOWN
PartitionName=test Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
: >"$work/plugstack.conf"
export SLURM_CONF="$work/slurm.conf"
slurmctld -D -i >"$work/log/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -N "$node" >"$work/log/slurmd.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    sinfo -h -o %T 2>/dev/null | grep -qx idle && break
    sleep 0.2
done
sinfo -h -o %T | grep -qx idle || {
    tail -5 "$work/log/slurmctld.log" "$work/log/slurmd.log" >&2
    echo "test-on-slurm: the one-node cluster did not come up" >&2
    exit 1
}
echo "one-node Slurm $(sinfo --version | cut -d' ' -f2) up: node $node, 4 CPUs"

# The collection: 1,000 synthetic scenes, 250 per task; the features in chunks of 8 (32 per
# task), so a task is killed between checkpoints, not before its first.
"$PRECOMPUTE" synth --out "$work/scenes" --count 1000 --size 64 2>/dev/null
build_flags=(--dims 8 --chunk 8 --name scenes)
seconds_since() { awk -v from="$1" -v to="$EPOCHREALTIME" 'BEGIN { printf "%.1f", to - from }'; }
source_flags=(--input "$work/scenes/captions.csv" --model "$repo/clip/fixtures/hf")

started=$EPOCHREALTIME
"$PRECOMPUTE" build "${source_flags[@]}" --out "$work/one-machine" "${build_flags[@]}" \
    >/dev/null 2>"$work/log/one-machine.err"
one_machine_s=$(seconds_since "$started")

# Every served file (the folder's files and thumbnails) and its hash, sorted.
listing() {
    (cd "$1" && { find . -maxdepth 1 -type f; find thumbs -type f; } | sort | xargs sha256sum)
}

# The state of job (or array task) $1, as scontrol tells it.
job_state() {
    scontrol show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | head -1 | cut -d= -f2
}

# Submits the build of the collection into $1 with $2 tree tasks; sets array_job, the job
# after it (next_job: the one a requeued part task's dependency is set on) and finish_job.
submit_build() {
    scripts/slurm/submit "${source_flags[@]}" --out "$1" --parts 4 --tree-parts "$2" \
        --cpus-per-task 1 --precompute "$PRECOMPUTE" -- "${build_flags[@]}" |
        tee "$work/log/submit.out"
    array_job=$(sed -n 's/^submitted: array job \([0-9]*\).*/\1/p' "$work/log/submit.out")
    finish_job=$(sed -n 's/^ *job \([0-9]*\) (finishes.*/\1/p' "$work/log/submit.out")
    next_job=$(sed -n "s|^ *scripts/slurm/requeue $array_job \\([0-9]*\\) 4 TASK.*|\\1|p" "$work/log/submit.out")
    [ -n "$array_job" ] && [ -n "$finish_job" ] && [ -n "$next_job" ]
}

# Waits (at most 3 minutes) until no job is left in the queue; the finishing job must
# have completed.
wait_for_build() {
    local deadline=$(($(date +%s) + 180))
    while [ -n "$(squeue -h -o %i)" ]; do
        if [ "$(date +%s)" -gt "$deadline" ]; then
            squeue -o '%.12i %.9T %.30r' >&2
            echo "test-on-slurm: the build did not finish in 3 minutes" >&2
            exit 1
        fi
        sleep 0.5
    done
    local state
    state=$(job_state "$finish_job")
    if [ "$state" != COMPLETED ]; then
        cat "$1/.work/slurm/"*.out >&2
        echo "test-on-slurm: the finishing job ended $state" >&2
        exit 1
    fi
}

# Checks the dataset in $1 against the one-machine build, byte for byte.
same_bytes() {
    if diff <(listing "$work/one-machine") <(listing "$1") >"$work/log/diff"; then
        echo "  the same bytes as the one-machine build: $(listing "$1" | wc -l) files"
    else
        cat "$work/log/diff" >&2
        echo "test-on-slurm: $1 differs from the one-machine build" >&2
        exit 1
    fi
    # The full features, one file per image in the feature cache.
    diff -r "$work/one-machine/.work/features" "$1/.work/features"
}

echo "== a build as 4 array tasks, the compact rows, 2 tree tasks and a finishing job"
started=$EPOCHREALTIME
submit_build "$work/slurm" 2
wait_for_build "$work/slurm"
slurm_s=$(seconds_since "$started")
same_bytes "$work/slurm"
# The tree tasks built every tree; the finishing job listed them.
grep -q "trees: 104 reused from earlier runs, 0 built" "$work/slurm/.work/slurm/finish-$finish_job.out" || {
    cat "$work/slurm/.work/slurm/"*.out >&2
    echo "test-on-slurm: the finishing job built trees the tree tasks had built" >&2
    exit 1
}
echo "  the 2 tree tasks built the 104 trees; the finishing job built none"

echo "== again, the trees in the finishing job, with task 1 killed mid-run (scancel --signal=KILL) and requeued"
started=$EPOCHREALTIME
submit_build "$work/killed" 0
task="${array_job}_1"
chunks="$work/killed/.work/parts/task-1/.work/extract/chunks"
# The task's process (its batch script execs precompute), found before it writes a chunk.
# scancel goes through the controller and slurmd and can take a second on a busy machine,
# long enough for the task to write all its chunks; so the test freezes the task itself
# (SIGSTOP, within a poll of its first chunk) and then has Slurm kill the frozen task.
deadline=$(($(date +%s) + 120))
task_pid=
until [ -n "$task_pid" ]; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "test-on-slurm: task 1 did not start" >&2; exit 1; }
    task_pid=$(pgrep -f -- "killed/.work/parts/task-1 --parts" | head -1 || true)
    sleep 0.01
done
# Builtins only in this loop (no fork per poll), so the first chunk is seen at once.
until compgen -G "$chunks/*.npy" >/dev/null; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "test-on-slurm: task 1 wrote no chunk" >&2; exit 1; }
    kill -0 "$task_pid" 2>/dev/null || break
done
kill -STOP "$task_pid" 2>/dev/null || true
scancel --signal=KILL "$task"
while [[ $(job_state "$task") =~ ^(RUNNING|COMPLETING)$ ]]; do sleep 0.2; done
state_after_kill=$(job_state "$task")
# Each chunk's file (inode): a resumed task keeps them, one that started over rewrites them.
chunk_files() { find "$chunks" -name '*.npy' -printf '%f %i\n' | sort; }
chunk_files >"$work/log/chunks-at-kill"
done_at_kill=$(wc -l <"$work/log/chunks-at-kill")
echo "  killed task 1 with $done_at_kill of its 32 chunks written; it ended $state_after_kill"
[ "$done_at_kill" -lt 32 ] && [ "$state_after_kill" != COMPLETED ] || {
    echo "test-on-slurm: task 1 finished before the kill: the test did not interrupt it" >&2
    exit 1
}
# As submit says; then the task starts now rather than after Slurm's requeue delay.
scripts/slurm/requeue "$array_job" "$next_job" 4 1
scontrol update JobId="$task" StartTime=now
wait_for_build "$work/killed"
killed_s=$(seconds_since "$started")
echo "  task 1 restarts: $(scontrol show job "$task" | grep -o 'Restarts=[0-9]*')"
if [ -n "$(comm -23 "$work/log/chunks-at-kill" <(chunk_files))" ]; then
    echo "test-on-slurm: the requeued task rewrote chunks written before the kill" >&2
    exit 1
fi
echo "  it resumed: the $done_at_kill chunks written before the kill were kept, the rerun wrote $(($(chunk_files | wc -l) - done_at_kill))"
same_bytes "$work/killed"

printf 'wall time: one machine %s s; Slurm, 4 tasks, 2 tree tasks and the finishing jobs %s s; 4 tasks and the finishing job, with a task killed and requeued, %s s\n' \
    "$one_machine_s" "$slurm_s" "$killed_s"
echo "test-on-slurm: passed"
