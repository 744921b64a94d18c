"""Where runs execute: one module per launcher behind the :class:`~harness.launch.base.Launcher` protocol.

:mod:`~harness.launch.inline` (this process), :mod:`~harness.launch.local`
(a pool of persistent worker processes, the default),
:mod:`~harness.launch.ray_actors` (Ray actors, local or on a cluster) and
:mod:`~harness.launch.ranks` (one process per device for a run over several
devices), chosen and cross-checked by :mod:`~harness.launch.factory`. The
process life they share is :mod:`~harness.launch.children`; the machine's
cores and GPUs, :mod:`~harness.launch.machine`.

May import: :mod:`harness.train` (inside the processes that train), records,
the plugin host and the contract. Never imports the sweep, the API, the CLI or
:mod:`harness.reporting`. The parent of a pool never imports torch.
"""
