"""What sbatch makes of an option word, for the checks of `extra_directives`.

sbatch reads the `#SBATCH` lines of a script into one argument list and parses
it with getopt_long, as it parses its command line: `--dep=x` is `--dependency=x`
(a prefix that names one option is that option), `--de` is an error (several
options start with it), an option that takes a value takes the next word when
it has no `=VALUE` (`--comment` followed by `--hold` is the comment "--hold").
OPTIONS is sbatch 22.05's list of long options and what each takes, read from
sbatch itself (getopt names the candidates of an ambiguous prefix, and says
which options need a value or take none).
"""

from __future__ import annotations

# sbatch 22.05.8: every long option, by what it takes ("value": a required
# value; "optional": `--x` or `--x=v`; "none": no value).
_VALUE = """
account acctg-freq array batch bb bbf begin chdir cluster cluster-constraint clusters comment
constraint container context core-spec cores-per-socket cpu-freq cpus-per-gpu cpus-per-task deadline
delay-boot dependency distribution error exclude export export-file extra-node-info gid gpu-bind
gpu-freq gpus gpus-per-node gpus-per-socket gpus-per-task gres gres-flags hint input job-name
kill-on-invalid-dep licenses mail-type mail-user mcs-label mem mem-bind mem-per-cpu mem-per-gpu mincpus
network nodefile nodelist nodes ntasks ntasks-per-core ntasks-per-gpu ntasks-per-node ntasks-per-socket
ntasks-per-tres open-mode output partition power prefer priority profile qos reservation
signal sockets-per-node switches tasks-per-node thread-spec threads-per-core time time-min tmp uid
wait-all-nodes wckey wrap
"""
_OPTIONAL = "exclusive get-user-env nice no-kill propagate"
_NONE = """
contiguous help hold ignore-pbs no-requeue overcommit oversubscribe parsable quiet reboot requeue
spread-job test-only usage use-min-nodes verbose version wait
"""
OPTIONS: dict[str, str] = {
    **{o: "value" for o in _VALUE.split()},
    **{o: "optional" for o in _OPTIONAL.split()},
    **{o: "none" for o in _NONE.split()},
}

# Options sac sets itself, or that would change how sac submits and runs the
# job or reads sbatch's answer: why each is not the user's.
SAC_OWNS = {
    "job-name": "sac names the job (sac-NAME: how it finds it)",
    "output": "sac writes the job's log where it reads it",
    "error": "sac writes the job's log where it reads it",
    "input": "the job's input is sac's",
    "open-mode": "sac appends to the job's log",
    "signal": "sac's walltime trap needs its signal",
    "dependency": "sac's successor waits with --dependency=singleton",
    "kill-on-invalid-dep": "sac's successor waits with --dependency=singleton",
    "array": "one agent is one job, not an array",
    "wait": "sac does not wait for the job to end",
    "export": "the job's environment is sac's (use spec.env)",
    "export-file": "the job's environment is sac's (use spec.env)",
    "get-user-env": "the job's environment is sac's (use spec.env)",
    "requeue": "sac's chain decides what comes back after a requeue",
    "no-requeue": "sac's chain decides what comes back after a requeue",
    "chdir": "the job runs in sac's folder (use workdir for the agent)",
    "nodes": "sac asks for one node",
    "ntasks": "sac asks for one task",
    "parsable": "sac reads sbatch's answer",
    "test-only": "sac submits the job",
    "wrap": "sac's script is the job",
    "help": "sac submits the job",
    "usage": "sac submits the job",
    "version": "sac submits the job",
}

# Options a field sets: field (as the schema names it, the Agent's then the
# Reservation's spelling) -> the options it owns.
FIELD_OPTIONS = {
    "partition": ("partition",), "account": ("account",), "qos": ("qos",),
    "cpus_per_task": ("cpus-per-task",), "mem": ("mem",), "time_limit": ("time",),
    "gpus": ("gpus",), "gres": ("gres",), "constraint": ("constraint",),
    "nodelist": ("nodelist", "nodefile"), "exclude": ("exclude",), "exclusive": ("exclusive",),
    "mail_type": ("mail-type",), "mail_user": ("mail-user",),
}
RESERVATION_FIELD = {"cpus_per_task": "cpus", "time_limit": "time"}


def _owner(option: str, kind: str) -> str | None:
    """Why OPTION is not for extra_directives, or None."""
    if option in SAC_OWNS:
        return SAC_OWNS[option]
    for field, options in FIELD_OPTIONS.items():
        if option in options:
            if kind == "Reservation":
                return f"set it with the field spec.{RESERVATION_FIELD.get(field, field)}"
            return f"set it with the field spec.slurm.{field}"
    return None


def resolve(name: str) -> tuple[str, list[str]]:
    """What sbatch 22.05's getopt_long makes of `--NAME`: ("exact", [NAME]),
    ("prefix", [OPTION]) for an abbreviation, ("ambiguous", [candidates]) or
    ("unknown", [])."""
    if name in OPTIONS:
        return "exact", [name]
    found = [o for o in OPTIONS if o.startswith(name)]
    if len(found) == 1:
        return "prefix", found
    return ("ambiguous", sorted(found)) if found else ("unknown", [])


def problem(word: str, kind: str = "Agent") -> str | None:
    """What is wrong with WORD (`--option` or `--option=value`, the schema's
    shape) as an extra directive, or None.

    Refused: an option sac or a field owns, spelt in full or as any prefix of
    it (whatever sbatch would make of it: a prefix that 22.05 finds ambiguous
    may name one option in another version, or the owned one itself); a prefix
    that is ambiguous; an option that takes a value without `=VALUE` (it would
    take the next directive as its value), or `=VALUE` to one that takes none.
    An option sbatch 22.05 does not know passes: a newer sbatch may."""
    name, eq, _ = word[2:].partition("=")
    how, found = resolve(name)
    if how != "exact":
        owned = sorted(o for o in OPTIONS if o.startswith(name) and _owner(o, kind))
        if owned:
            why = _owner(owned[0], kind)
            spelt = "is an abbreviation of" if how == "prefix" else "abbreviates"
            names = " or ".join(f"--{o}" for o in owned)
            return f"--{name} {spelt} {names}, which is not for extra_directives: {why}"
    else:
        why = _owner(name, kind)
        if why:
            return f"--{name} is not for extra_directives: {why}"
    if how == "ambiguous":
        return (f"--{name} is ambiguous for sbatch ({', '.join('--' + o for o in found)}); "
                f"write the option in full")
    if how == "unknown":
        return None
    option = found[0]
    full = f"--{option}" if how == "exact" else f"--{name} (--{option})"
    if OPTIONS[option] == "value" and not eq:
        return (f"{full} takes a value: write it as one word, --{name}=VALUE (on its own it would "
                f"take the next directive as its value)")
    if OPTIONS[option] == "none" and eq:
        return f"{full} takes no value: write --{name}"
    return None


# What SBATCH_* variables of the login shell would override an option (sbatch
# takes them over the script's #SBATCH lines). Options not listed have none.
ENV_OF = {
    "account": "SBATCH_ACCOUNT", "acctg-freq": "SBATCH_ACCTG_FREQ", "batch": "SBATCH_BATCH",
    "bb": "SBATCH_BURST_BUFFER", "clusters": "SBATCH_CLUSTERS", "cluster": "SBATCH_CLUSTERS",
    "cluster-constraint": "SBATCH_CLUSTER_CONSTRAINT", "constraint": "SBATCH_CONSTRAINT",
    "container": "SBATCH_CONTAINER", "core-spec": "SBATCH_CORE_SPEC", "cpus-per-gpu": "SBATCH_CPUS_PER_GPU",
    "cpu-freq": "SBATCH_CPU_FREQ_REQ", "delay-boot": "SBATCH_DELAY_BOOT", "distribution": "SBATCH_DISTRIBUTION",
    "exclusive": "SBATCH_EXCLUSIVE", "gpus": "SBATCH_GPUS", "gpus-per-node": "SBATCH_GPUS_PER_NODE",
    "gpus-per-socket": "SBATCH_GPUS_PER_SOCKET", "gpus-per-task": "SBATCH_GPUS_PER_TASK",
    "gpu-bind": "SBATCH_GPU_BIND", "gpu-freq": "SBATCH_GPU_FREQ", "gres": "SBATCH_GRES",
    "gres-flags": "SBATCH_GRES_FLAGS", "hint": "SBATCH_HINT", "mem-bind": "SBATCH_MEM_BIND",
    "mem-per-cpu": "SBATCH_MEM_PER_CPU", "mem-per-gpu": "SBATCH_MEM_PER_GPU", "network": "SBATCH_NETWORK",
    "no-kill": "SBATCH_NO_KILL", "overcommit": "SBATCH_OVERCOMMIT", "power": "SBATCH_POWER",
    "profile": "SBATCH_PROFILE", "reservation": "SBATCH_RESERVATION", "switches": "SBATCH_REQ_SWITCH",
    "spread-job": "SBATCH_SPREAD_JOB", "thread-spec": "SBATCH_THREAD_SPEC",
    "threads-per-core": "SBATCH_THREADS_PER_CORE", "use-min-nodes": "SBATCH_USE_MIN_NODES",
    "wait-all-nodes": "SBATCH_WAIT_ALL_NODES", "wckey": "SBATCH_WCKEY",
}


def overridden_env(spec) -> tuple[str, ...]:
    """The SBATCH_* variables to drop before submitting SPEC's job, beyond those
    of partition, account, qos, mem and time (templates/fragments/sbatch_env):
    those of the resource fields it sets and of its extra directives, so that
    the YAML's word is the job's."""
    out = []
    if spec.gpus is not None:
        out.append("SBATCH_GPUS")
    if spec.gres is not None:
        out.append("SBATCH_GRES")
    if spec.constraint is not None:
        out.append("SBATCH_CONSTRAINT")
    if spec.exclusive:
        out.append("SBATCH_EXCLUSIVE")
    for word in spec.extra_directives:
        how, found = resolve(word[2:].partition("=")[0])
        env = ENV_OF.get(found[0]) if how in ("exact", "prefix") else None
        if env and env not in out:
            out.append(env)
    return tuple(out)
