"""CPU placement and settings, applied only when asked for.

An earlier plastix (its runner before the one-runner rewrite) hung on jaxlib 0.10's CPU
runtime: a compiled call never completed, every thread slept, and the process waited forever
for a result buffer — 4 of 5 small loaded SAC runs. Pinning the process to one core (with
XLA's multi-threaded Eigen and JAX's asynchronous CPU dispatch off) avoided it, and plastix
did that at import, to every process that imported it. ``benchmarks/hang_study.py`` counts
hangs over loaded runs per setting, jaxlib and commit (``benchmarks/results/hang-study.md``):
the current code does not hang unguarded, so nothing is applied by default any more.

- ``import plastix`` and the ``plastix`` command leave the process alone — its CPU affinity,
  ``XLA_FLAGS``, JAX's settings — unless ``PLASTIX_CPU_CORES=N`` is set before the import:
  then the process takes ``N`` cores no other plastix process holds (runs started side by
  side spread over the cores instead of taking turns on the first: two DQN runs on one core
  were 2.7 times slower each), and the flags above are set before JAX starts. The guard
  costs 8–25% of steps per second alone; use it where a run hangs.
- A core is held through a lock file per core (``$TMPDIR/plastix-cores-$UID/N.lock`` or
  ``$PLASTIX_CORE_LOCKS``), released when the process ends however it ends; when every allowed
  core is held, a process shares one chosen by its process id. Ray tasks on a CPU-only
  cluster take a free core each (``take_free_core``) so that tasks side by side do not share.
- ``PLASTIX_KEEP_XLA_FLAGS=1`` (or ``PLASTIX_CPU_CORES=all``) leaves every setting alone.
  Nothing changes where a GPU plugin is installed and ``JAX_PLATFORMS`` does not force the CPU.
"""

from __future__ import annotations

import importlib.util
import os

FLAG = "--xla_cpu_multi_thread_eigen=false"
ACCELERATOR_PLUGINS = (
    "jax_cuda12_plugin",
    "jax_cuda13_plugin",
    "jax_rocm60_plugin",
    "jax_rocm7_plugin",
    "libtpu",
)


def cpu_only() -> bool:
    """Whether JAX will run on the CPU (no accelerator plugin, or ``JAX_PLATFORMS=cpu``)."""
    platforms = [p.strip() for p in os.environ.get("JAX_PLATFORMS", "").split(",") if p.strip()]
    if platforms:
        return platforms == ["cpu"]
    return not any(importlib.util.find_spec(name) for name in ACCELERATOR_PLUGINS)


def pin_cores(setting: str) -> set[int] | None:
    """Restricts the process to the first ``setting`` of its cores; returns the new set."""
    if setting == "all" or not hasattr(os, "sched_setaffinity"):
        return None
    try:
        count = int(setting)
    except ValueError:
        raise ValueError(
            f"PLASTIX_CPU_CORES must be a number of cores or 'all', got {setting!r}"
        ) from None
    if count < 1:
        raise ValueError(f"PLASTIX_CPU_CORES must be >= 1 or 'all', got {setting!r}")
    allowed = sorted(os.sched_getaffinity(0))
    cores = claim_free_cores(allowed, count)
    if len(cores) < min(count, len(allowed)):  # every allowed core is held: share some
        rest = [c for c in allowed if c not in cores]
        start = os.getpid() % len(rest)
        cores += (rest[start:] + rest[:start])[: count - len(cores)]
    os.sched_setaffinity(0, cores)
    return set(cores)


_held_locks: list[int] = []  # open lock files: this process's claim on its cores


def lock_folder() -> str:
    import tempfile

    return os.environ.get("PLASTIX_CORE_LOCKS") or os.path.join(
        tempfile.gettempdir(), f"plastix-cores-{os.getuid()}"
    )


def claim_free_cores(allowed: list[int], count: int) -> list[int]:
    """Up to ``count`` of ``allowed`` that no other process holds, now held by this one (an
    exclusive ``flock`` on one file per core, which the kernel drops when the process ends)."""
    import fcntl

    try:
        folder = lock_folder()
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return []
    cores = []
    for core in allowed:
        if len(cores) == count:
            break
        try:
            fd = os.open(os.path.join(folder, f"{core}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        _held_locks.append(fd)
        cores.append(core)
    return cores


def release_cores() -> None:
    """Gives up this process's claim on its cores (its affinity stays), so that processes it
    waits on can take them: a Ray driver does this while its tasks run."""
    while _held_locks:
        os.close(_held_locks.pop())


def take_free_core() -> int:
    """Moves this process, every thread of it, to one core of the machine that no other
    plastix process holds (when all are held, one chosen by its process id), giving up the
    cores it held; returns the core. A Ray worker inherits the affinity of whoever started
    Ray, and its own import of plastix claimed a core from that one set, so it starts over
    from the machine's cores."""
    release_cores()
    machine = machine_cores()
    claimed = claim_free_cores(machine, 1)
    core = claimed[0] if claimed else machine[os.getpid() % len(machine)]
    pin_threads({core})
    return core


def machine_cores() -> list[int]:
    """The machine's cores: those the init process may use (a Ray worker inherits the affinity
    of whoever started Ray, which plastix may have pinned to one core), else this process's."""
    try:
        return sorted(os.sched_getaffinity(1))
    except OSError:
        return sorted(os.sched_getaffinity(0))


def pin_threads(cores: set[int]) -> None:
    """Restricts every thread of this process (not only the calling one) to ``cores``."""
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(tid), cores)
        except OSError:
            pass


_configured = False


def configure_if_asked() -> None:
    """At ``import plastix``: the guard, only where ``PLASTIX_CPU_CORES`` asks for it."""
    global _configured
    setting = os.environ.get("PLASTIX_CPU_CORES")
    if _configured or not setting or os.environ.get("PLASTIX_KEEP_XLA_FLAGS") or not cpu_only():
        return
    _configured = True
    if pin_cores(setting) is None:  # "all": no pin, and the flags only go with one
        return
    current = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_multi_thread_eigen" not in current:
        os.environ["XLA_FLAGS"] = f"{current} {FLAG}".strip()
    import jax

    jax.config.update("jax_cpu_enable_async_dispatch", False)


CACHE_SETTING = "PLASTIX_COMPILATION_CACHE"
OFF = ("off", "0", "false", "no")


def enable_compilation_cache() -> str | None:
    """Turns on JAX's persistent compilation cache, so a run whose programs were compiled
    before (by any process) loads them instead of compiling again; returns its folder.

    The folder is ``$PLASTIX_COMPILATION_CACHE``, else ``$XDG_CACHE_HOME/plastix/jax`` (by
    default ``~/.cache/plastix/jax``); ``PLASTIX_COMPILATION_CACHE=off`` turns it off, and a
    cache folder the user set for JAX (``JAX_COMPILATION_CACHE_DIR``) is left as it is. plastix
    calls this when a run starts, not at import.
    """
    import jax

    setting = os.environ.get(CACHE_SETTING, "").strip()
    if setting.lower() in OFF:
        return None
    current = jax.config.jax_compilation_cache_dir
    if current:
        return current
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = setting or os.path.join(base, "plastix", "jax")
    jax.config.update("jax_compilation_cache_dir", path)
    return path


# JAX's monitoring events for the persistent cache: a program loaded from it, and one it did
# not hold (compiled; stored when compiling took jax_persistent_cache_min_compile_time_secs)
CACHE_EVENTS = {
    "/jax/compilation_cache/cache_hits": "loaded",
    "/jax/compilation_cache/cache_misses": "compiled",
}
_cache_counts = {"loaded": 0, "compiled": 0}
_listening = False


def _count_cache_event(event: str, **_) -> None:
    name = CACHE_EVENTS.get(event)
    if name is not None:
        _cache_counts[name] += 1


def cache_counts() -> dict[str, int]:
    """How many programs this process has loaded from the persistent compilation cache
    (``loaded``) and compiled because it did not hold them (``compiled``), counted from the
    first call of this function."""
    global _listening
    if not _listening:
        import jax.monitoring

        jax.monitoring.register_event_listener(_count_cache_event)
        _listening = True
    return dict(_cache_counts)


def available_memory() -> int | None:
    """Bytes the default JAX device can still take (None: unknown): the accelerator's free
    memory, or on the CPU the system's available memory (``MemAvailable``)."""
    import jax

    device = jax.devices()[0]
    if device.platform != "cpu":
        stats = device.memory_stats() or {}
        if "bytes_limit" in stats:
            return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
        return None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None
