"""Training one run in this process: everything that imports torch and Lightning lives here.

The runner turns a RunConfig into a record (:mod:`~harness.train.runner`),
through the Fabric loop (:mod:`~harness.train.engine`) or a Lightning
Trainer, with the task modules (:mod:`~harness.train.tasks`) and their
metrics (:mod:`~harness.train.metrics`), honest meters
(:mod:`~harness.train.measure`), device-resident batches
(:mod:`~harness.train.batches`), the device (:mod:`~harness.train.devices`)
and a rank's view of a multi-device run (:mod:`~harness.train.sharding`).
Lightning and torchmetrics are imported only by the runs that use them
(:mod:`~harness.train.lazy_lightning`): a plain model at 32-bit precision on
one device needs neither, and a pool worker starts in about torch's import time.

May import: the contract, the plugin host, the grid, records and provenance.
Never imports :mod:`harness.launch` (which starts the processes that call
in here), :mod:`harness.reporting`, nor anything above them.
"""
