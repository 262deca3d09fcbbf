"""Forms and buttons for every volume, snapshot and connection operation.

Targets come from the ResourceBrowser's pickers. Each button runs its driver
call through a JobRunner (worker thread, elapsed time, typed error message) and
refreshes the browser when the call ends, picking the new resource.
"""
from __future__ import annotations

import json
from typing import Any, Callable

import ipywidgets as widgets

from cinder_nb import runtime
from cinder_nb.errors import CinderNBError, InvalidArgument
from cinder_nb.notebook.browser import ResourceBrowser
from cinder_nb.notebook.jobs import Job, JobRunner

_STYLE = {'description_width': '110px'}


def _text(description: str, value: str = '', cls: str = '', **kw: Any) -> widgets.Text:
    w = widgets.Text(value=value, description=description, style=_STYLE,
                     layout=widgets.Layout(width='360px'), **kw)
    if cls:
        w.add_class(cls)
    return w


def _size(description: str, value: int, cls: str) -> widgets.BoundedIntText:
    w = widgets.BoundedIntText(value=value, min=1, max=1_000_000, description=description, style=_STYLE,
                               layout=widgets.Layout(width='220px'))
    w.add_class(cls)
    return w


def _button(description: str, cls: str, icon: str = '', style: str = '', tooltip: str = '') -> widgets.Button:
    b = widgets.Button(description=description, icon=icon, button_style=style, tooltip=tooltip or description,
                       layout=widgets.Layout(width='auto'))
    b.add_class(cls)
    return b


def _row(*children: widgets.Widget) -> widgets.HBox:
    return widgets.HBox(list(children), layout=widgets.Layout(align_items='center', flex_flow='row wrap'))


def _nm(obj: Any) -> str:
    """A resource's name, or its short id when it has none."""
    return getattr(obj, 'name', '') or obj.id[:8]


class NoTarget(InvalidArgument):
    """The operation needs a picked resource and none is picked."""

    def __init__(self, kind: str) -> None:
        CinderNBError.__init__(self, f'No {kind} is picked: choose one in the "target {kind}" list above '
                               f'the {kind.capitalize()}s table.', argument=f'target {kind}', value=None)
        self.argument, self.value = f'target {kind}', None


class OperationsPanel(widgets.VBox):
    """Tabs of operations on the browser's picked volume, snapshot or connection."""

    def __init__(self, browser: ResourceBrowser, runner: JobRunner | None = None,
                 backends: Callable[[], list[str]] | None = None) -> None:
        self.browser = browser
        self.runner = runner if runner is not None else JobRunner()
        self._backends = backends or (lambda: sorted(runtime.get().backends))
        self.buttons: dict[str, widgets.Button] = {}

        # volumes
        self.backend = widgets.Dropdown(description='backend', style=_STYLE, layout=widgets.Layout(width='360px'))
        self.backend.add_class('cinder-nb-create-backend-pick')
        self.new_name = _text('name', 'data', 'cinder-nb-create-name', placeholder='volume name')
        self.new_size = _size('size (GiB)', 1, 'cinder-nb-create-size')
        self.extend_size = _size('new size', 2, 'cinder-nb-extend-size')
        self.clone_name = _text('clone name', '', 'cinder-nb-clone-name', placeholder='(optional)')
        self.snap_name = _text('snapshot name', '', 'cinder-nb-snapshot-name', placeholder='(optional)')
        # snapshots
        self.from_snap_name = _text('volume name', '', 'cinder-nb-from-snapshot-name', placeholder='(optional)')
        # connections
        self.host = _text('host', 'compute-1', 'cinder-nb-connector-host')
        self.initiator = _text('initiator', 'iqn.1993-08.org.debian:01:compute-1', 'cinder-nb-connector-initiator')
        self.connector_extra = widgets.Textarea(value='', placeholder='more connector fields as JSON, e.g. '
                                                '{"wwpns": ["50014380186af83c"], "multipath": false}',
                                                description='extra', style=_STYLE,
                                                layout=widgets.Layout(width='640px', height='52px'))
        self.connector_extra.add_class('cinder-nb-connector-extra')

        b = self._make_button
        volume_tab = widgets.VBox([
            widgets.HTML('<b>Create</b> a volume on a backend'),
            _row(self.backend, self.new_name, self.new_size,
                 b('create_volume', 'Create volume', 'plus', 'success', self.create_volume)),
            widgets.HTML('<b>On the target volume</b> (pick it in the Volumes table below)'),
            _row(self.extend_size, b('extend', 'Extend', 'expand', '', self.extend_volume)),
            _row(self.clone_name, b('clone', 'Clone', 'clone', '', self.clone_volume)),
            _row(self.snap_name, b('create_snapshot', 'Create snapshot', 'camera', '', self.create_snapshot)),
            _row(b('attach', 'Attach here', 'link', '', self.attach_volume),
                 b('detach', 'Detach', 'unlink', '', self.detach_volume),
                 b('delete_volume', 'Delete volume', 'trash', 'danger', self.delete_volume)),
        ])
        snapshot_tab = widgets.VBox([
            widgets.HTML('<b>On the target snapshot</b> (pick it in the Snapshots table below)'),
            _row(self.from_snap_name, b('volume_from_snapshot', 'Create volume from snapshot', 'plus', '',
                                        self.volume_from_snapshot)),
            _row(b('delete_snapshot', 'Delete snapshot', 'trash', 'danger', self.delete_snapshot)),
        ])
        connection_tab = widgets.VBox([
            widgets.HTML('<b>Connector</b> (the host a volume is exported to, as os-brick describes it)'),
            _row(self.host, self.initiator),
            self.connector_extra,
            _row(b('validate_connector', 'Validate connector', 'check', '', self.validate_connector),
                 b('connect', 'Connect target volume', 'plug', '', self.connect_volume),
                 b('disconnect', 'Disconnect target connection', 'unlink', 'warning', self.disconnect)),
        ])
        self.tabs = widgets.Tab(children=[volume_tab, snapshot_tab, connection_tab])
        for i, title in enumerate(('Volumes', 'Snapshots', 'Connections')):
            self.tabs.set_title(i, title)
        super().__init__([self.tabs, self.runner.status])
        self.add_class('cinder-nb-operations')
        self.refresh_backends()

    def _make_button(self, key: str, description: str, icon: str, style: str,
                     handler: Callable[[], Any]) -> widgets.Button:
        button = _button(description, f'cinder-nb-{key.replace("_", "-")}', icon, style)
        button.on_click(lambda _b: handler())
        self.buttons[key] = button
        return button

    def refresh_backends(self) -> None:
        """Offer every loaded backend in the create-volume dropdown."""
        names = self._backends()
        current = self.backend.value
        self.backend.options = names
        if current in names:
            self.backend.value = current
        elif names:
            self.backend.value = names[0]

    # ------------------------------------------------------------------ running
    def _run(self, key: str, label: str, call: Callable[[], Any], select: Callable[[Any], dict] | None = None,
             success_text: Callable[[Any], str] | None = None) -> Job:
        def done(result: Any) -> None:
            self.browser.refresh(select(result) if select else None)

        def failed(_exc: BaseException) -> None:
            self.browser.refresh()
        return self.runner.submit(label, call, on_success=done, on_error=failed, success_text=success_text,
                                  buttons=(self.buttons[key],))

    def connector(self) -> dict:
        """The connector dict from the host / initiator / extra JSON fields."""
        conn: dict[str, Any] = {}
        if self.host.value.strip():
            conn['host'] = self.host.value.strip()
        if self.initiator.value.strip():
            conn['initiator'] = self.initiator.value.strip()
        extra = self.connector_extra.value.strip()
        if extra:
            try:
                more = json.loads(extra)
            except ValueError as exc:
                raise InvalidArgument('extra connector fields', extra, f'a JSON object ({exc})') from None
            if not isinstance(more, dict):
                raise InvalidArgument('extra connector fields', extra, 'a JSON object')
            conn.update(more)
        return conn

    # ------------------------------------------------------------------ volume operations
    def create_volume(self) -> Job:
        """Create a volume with the name and size fields on the chosen backend."""
        name, size, backend = self.new_name.value.strip() or None, self.new_size.value, self.backend.value

        def call():
            if backend is None:
                raise InvalidArgument('backend', None, 'a loaded backend (create one first)')
            return runtime.get().backends[backend].create_volume(size, name=name)
        return self._run('create_volume', f'Creating volume {name or ""} ({size} GiB)'.replace('  ', ' '), call,
                         select=lambda v: {'volume': v.id},
                         success_text=lambda v: f'Created volume {_nm(v)} ({v.size} GiB)')

    def delete_volume(self) -> Job:
        return self._on_target('volume', 'delete_volume', 'Deleting volume', lambda v: v.delete(),
                               lambda v, _r: f'Deleted volume {_nm(v)}')

    def extend_volume(self) -> Job:
        size = self.extend_size.value
        return self._on_target('volume', 'extend', f'Extending volume to {size} GiB', lambda v: v.extend(size),
                               lambda v, _r: f'Extended volume {_nm(v)} to {v.size} GiB')

    def clone_volume(self) -> Job:
        name = self.clone_name.value.strip() or None
        return self._on_target('volume', 'clone', 'Cloning volume', lambda v: v.clone(name=name),
                               lambda v, c: f'Cloned {_nm(v)} into {_nm(c)}',
                               select=lambda c: {'volume': c.id})

    def create_snapshot(self) -> Job:
        name = self.snap_name.value.strip() or None
        return self._on_target('volume', 'create_snapshot', 'Creating snapshot',
                               lambda v: v.create_snapshot(name=name),
                               lambda v, s: f'Snapshot {_nm(s)} of {_nm(v)} created',
                               select=lambda s: {'snapshot': s.id})

    def attach_volume(self) -> Job:
        return self._on_target('volume', 'attach', 'Attaching volume here', lambda v: v.attach(),
                               lambda v, c: f'Attached {_nm(v)} at {c.path}',
                               select=lambda c: {'connection': c.id})

    def detach_volume(self) -> Job:
        return self._on_target('volume', 'detach', 'Detaching volume', lambda v: v.detach(),
                               lambda v, _r: f'Detached {_nm(v)}')

    # ------------------------------------------------------------------ snapshot operations
    def delete_snapshot(self) -> Job:
        return self._on_target('snapshot', 'delete_snapshot', 'Deleting snapshot', lambda s: s.delete(),
                               lambda s, _r: f'Deleted snapshot {_nm(s)}')

    def volume_from_snapshot(self) -> Job:
        name = self.from_snap_name.value.strip() or None
        return self._on_target('snapshot', 'volume_from_snapshot', 'Creating volume from snapshot',
                               lambda s: s.create_volume(name=name),
                               lambda s, v: f'Volume {_nm(v)} created from snapshot {_nm(s)}',
                               select=lambda v: {'volume': v.id})

    # ------------------------------------------------------------------ connections
    def validate_connector(self) -> Job:
        backend = self.backend.value

        def call():
            if backend is None:
                raise InvalidArgument('backend', None, 'a loaded backend (create one first)')
            runtime.get().backends[backend].validate_connector(self.connector())
        return self._run('validate_connector', f'Validating connector on {backend}', call,
                         success_text=lambda _r: f'Backend {backend} accepts this connector')

    def connect_volume(self) -> Job:
        return self._on_target('volume', 'connect', 'Connecting volume', lambda v: v.connect(self.connector()),
                               lambda v, c: f'Connected {_nm(v)} to {c.connector.get("host")} '
                                            f'({c.protocol})',
                               select=lambda c: {'connection': c.id})

    def disconnect(self) -> Job:
        def call(c):
            return c.detach() if c.attached else c.disconnect()
        return self._on_target('connection', 'disconnect', 'Disconnecting', call,
                               lambda c, _r: f'Connection {c.id[:8]} closed')

    def _on_target(self, kind: str, key: str, label: str, call: Callable[[Any], Any],
                   text: Callable[[Any, Any], str], select: Callable[[Any], dict] | None = None) -> Job:
        ident = getattr(self.browser, f'{kind}s').selected_id

        def run():
            if ident is None:
                raise NoTarget(kind)
            target = runtime.get().get(kind, ident)
            return target, call(target)
        return self._run(key, f'{label} {ident[:8] if ident else ""}'.strip(), run,
                         select=(lambda r: select(r[1])) if select else None,
                         success_text=lambda r: text(*r))


__all__ = ['OperationsPanel', 'NoTarget']
