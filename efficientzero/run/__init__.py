"""Running training: one schedule (``trainer.py``) fed by a runtime's data source (``local.py``
in this process, ``ray.py`` as Ray actors), the run directory (``directory.py``) and its logs
(``metrics.py``)."""
