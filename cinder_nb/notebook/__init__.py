"""The notebook layer: widgets, DataFrames and checkpoint cells on top of the cinder_nb core.

    import cinder_nb.notebook as nb
    nb.Console()                 # backend form, operation tabs, live tables
    nb.volumes_df()              # typed DataFrames (snapshots_df, connections_df)
    nb.fio(vol, 'randread')      # fio results as a DataFrame; nb.verify_lifecycle(vol): integrity checks
    nb.pictures.draw_lineage()   # lineage graph, capacity_chart(), fio_plot(df), operations_timeline()
    %%cinder_checkpoint          # magics registered by the import (no %load_ext needed)

The core never imports this package.
"""
from __future__ import annotations

from cinder_nb.notebook.browser import ResourceBrowser
from cinder_nb.notebook.checkpoint import (checkpoint, checkpoint_cell, load_ipython_extension,
                                           register_in_running_shell, restore, unload_ipython_extension)
from cinder_nb.notebook import pictures
from cinder_nb.notebook.console import Console
from cinder_nb.notebook.errors import FieldError, NoTarget
from cinder_nb.notebook.fio_runs import fio, parse_fio_json
from cinder_nb.notebook.forms import BackendForm, OptionField
from cinder_nb.notebook.frames import connections_df, snapshots_df, volumes_df
from cinder_nb.notebook.history import clear_operations, operations_df
from cinder_nb.notebook.integrity import Integrity, verify_lifecycle
from cinder_nb.notebook.jobs import Job, JobRunner
from cinder_nb.notebook.lineage_view import LineageView
from cinder_nb.notebook.operations import OperationsPanel
from cinder_nb.notebook.progress import copy_to, create_snapshots, create_volumes, delete_snapshots, delete_volumes

__all__ = ['Console', 'BackendForm', 'OptionField', 'OperationsPanel', 'ResourceBrowser', 'Job', 'JobRunner',
           'volumes_df', 'snapshots_df', 'connections_df', 'checkpoint', 'checkpoint_cell', 'restore',
           'load_ipython_extension', 'unload_ipython_extension', 'fio', 'parse_fio_json', 'Integrity',
           'verify_lifecycle', 'copy_to', 'create_volumes', 'create_snapshots', 'delete_volumes',
           'delete_snapshots', 'operations_df', 'clear_operations', 'pictures', 'LineageView', 'FieldError',
           'NoTarget']

register_in_running_shell()
