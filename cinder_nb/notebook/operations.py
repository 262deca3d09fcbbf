"""Forms and buttons for every volume, snapshot and connection operation.

Targets come from the ResourceBrowser (a clicked row or the picker). Fields take what was
typed (plain text) and the kernel checks it before anything runs: a bad value shows its
error next to its own field and nothing is created. Enter in a field presses its button.
One operation runs at a time: while it runs, every operation button is disabled, its target's
row shows the transitional status, and a second click (a double-click) does nothing. A delete
asks for confirmation by name first. Messages name resources by name, id in brackets.
"""
from __future__ import annotations

import json
import re
import time
import warnings
from typing import Any, Callable

import ipywidgets as widgets

from cinder_nb.backend import Backend
from cinder_nb.errors import CinderNBError, InsufficientCapacity, InvalidArgument
from cinder_nb.notebook.browser import ResourceBrowser, lookup
from cinder_nb.notebook.errors import FieldError, NoTarget
from cinder_nb.notebook.jobs import Job, JobRunner, error_html

_STYLE = {'description_width': '110px'}
#: the same click (same button, fields and targets) again within this many seconds is a double-click: ignored
DOUBLE_CLICK = 0.5
_UUID = re.compile(r'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}')


#: the name this module used for FieldError before the notebook errors had a module of their own
FieldInputError = FieldError


def _text(description: str, value: str = '', cls: str = '', width: str = '340px', **kw: Any) -> widgets.Text:
    w = widgets.Text(value=value, description=description, style=_STYLE, layout=widgets.Layout(width=width), **kw)
    if cls:
        w.add_class(cls)
    return w


def _button(description: str, cls: str, icon: str = '', style: str = '', tooltip: str = '') -> widgets.Button:
    b = widgets.Button(description=description, icon=icon, button_style=style, tooltip=tooltip or description,
                       layout=widgets.Layout(width='auto'))
    b.add_class(cls)
    return b


def _message(key: str) -> widgets.HTML:
    w = widgets.HTML(layout=widgets.Layout(margin='0 0 0 8px'))
    w.add_class('cinder-nb-message')
    w.add_class(f'cinder-nb-message-{key.replace("_", "-")}')
    return w


def _row(*children: widgets.Widget) -> widgets.HBox:
    return widgets.HBox(list(children), layout=widgets.Layout(align_items='center', flex_flow='row wrap'))


def nm(obj: Any) -> str:
    """A resource for messages: its name first, the short id in brackets (only the id if unnamed)."""
    name = getattr(obj, 'name', '') or ''
    return f'{name} ({obj.id[:8]})' if name else obj.id[:8]


def named(message: str) -> str:
    """The message with every known resource id replaced by 'name (short id)'."""
    def swap(match: re.Match) -> str:
        ident = match.group(0)
        for kind in ('volume', 'snapshot', 'connection'):
            obj = lookup(kind, ident)
            if obj is not None:
                return nm(obj)
        return ident
    return _UUID.sub(swap, message)


def parse_size(field: str, text: str, backend: Any = None, more_than: int | None = None, of: str = '',
               volume: Any = None) -> int:
    """The whole number of GiB typed in a field, checked: >= 1, above ``more_than``, and accepted by
    the backend's own capacity check (the one create_volume / extend run; ``volume``: the one to extend)."""
    typed = (text or '').strip()
    if not re.fullmatch(r'[0-9]+', typed):
        raise FieldError(field, text, f'{field} must be a whole number of GiB, such as 1 or 20 '
                                           f'(you typed {typed!r}).' if typed else f'{field} is empty: type a '
                                           f'whole number of GiB, such as 1.')
    size = int(typed)
    if size < 1:
        raise FieldError(field, text, f'{field} must be at least 1 GiB (you typed {typed}).')
    if more_than is not None and size <= more_than:
        raise FieldError(field, text, f'{field} must be more than the current {more_than} GiB of {of} '
                                           f'(you typed {typed}): volumes only grow.')
    if backend is not None:
        try:
            if volume is not None:
                backend.check_capacity(size, volume.pool_name, current_size=volume.size,
                                       extra_specs=volume.extra_specs)
            else:
                backend.check_capacity(size)
        except (InsufficientCapacity, InvalidArgument) as exc:     # the core's own verdict and words
            raise FieldError(field, text, f'{field} {size:,} GiB: {exc.message}') from None
    return size


def _optional_name(field: str, text: str) -> str | None:
    value = (text or '').strip()
    if len(value) > 255:
        raise FieldError(field, value[:40] + '...', f'{field} is {len(value)} characters long: at most 255.')
    if any(ord(c) < 32 for c in value):
        raise FieldError(field, value, f'{field} holds control characters: type plain text.')
    return value or None


class OperationsPanel(widgets.VBox):
    """Tabs of operations on the browser's picked volume, snapshot or connection."""

    #: transitional status shown on the target's row while each operation runs
    TRANSITIONS = {'extend': 'extending', 'delete_volume': 'deleting', 'clone': 'cloning',
                   'create_snapshot': 'snapshotting', 'attach': 'attaching', 'detach': 'detaching',
                   'connect': 'connecting', 'delete_snapshot': 'deleting', 'volume_from_snapshot': 'copying',
                   'disconnect': 'disconnecting'}

    def __init__(self, browser: ResourceBrowser, runner: JobRunner | None = None,
                 backends: Callable[[], list[str]] | None = None) -> None:
        self.browser = browser
        self.runner = runner if runner is not None else JobRunner()
        self._backends = backends or (lambda: sorted(Backend.backends))
        self.buttons: dict[str, widgets.Button] = {}
        self.double_click = DOUBLE_CLICK
        self._settled: tuple | None = None     # the fields and targets as the last job left them
        self.messages: dict[str, widgets.HTML] = {}
        self._pending_delete: dict[str, str | None] = {'volume': None, 'snapshot': None}

        # volumes
        self.backend = widgets.Dropdown(description='backend', style=_STYLE, layout=widgets.Layout(width='300px'))
        self.backend.add_class('cinder-nb-create-backend-pick')
        self.new_name = _text('name', '', 'cinder-nb-create-name', width='300px', placeholder='volume name')
        self.new_size = _text('size (GiB)', '1', 'cinder-nb-create-size', width='200px')
        self.extend_size = _text('new size (GiB)', '', 'cinder-nb-extend-size', width='240px')
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
        self.targets = {kind: widgets.HTML() for kind in ('volume', 'snapshot', 'connection')}
        for kind, w in self.targets.items():
            w.add_class(f'cinder-nb-target-{kind}')

        b, m = self._make_button, self._msg
        self.confirm = {kind: self._confirm_box(kind) for kind in ('volume', 'snapshot')}
        volume_tab = widgets.VBox([
            widgets.HTML('<b>Create</b> a volume on a backend'),
            _row(self.backend, self.new_name, self.new_size,
                 b('create_volume', 'Create volume', 'plus', 'success', self.create_volume), m('create_volume')),
            self.targets['volume'],
            _row(self.extend_size, b('extend', 'Extend', 'expand', '', self.extend_volume), m('extend')),
            _row(self.clone_name, b('clone', 'Clone', 'clone', '', self.clone_volume), m('clone')),
            _row(self.snap_name, b('create_snapshot', 'Create snapshot', 'camera', '', self.create_snapshot),
                 m('create_snapshot')),
            _row(b('attach', 'Attach here', 'link', '', self.attach_volume),
                 b('detach', 'Detach', 'unlink', '', self.detach_volume),
                 b('delete_volume', 'Delete volume…', 'trash', 'danger', self.delete_volume),
                 m('volume_actions', 'attach', 'detach', 'delete_volume')),
            self.confirm['volume'],
        ])
        snapshot_tab = widgets.VBox([
            self.targets['snapshot'],
            _row(self.from_snap_name, b('volume_from_snapshot', 'Create volume from snapshot', 'plus', '',
                                        self.volume_from_snapshot), m('volume_from_snapshot')),
            _row(b('delete_snapshot', 'Delete snapshot…', 'trash', 'danger', self.delete_snapshot),
                 m('delete_snapshot')),
            self.confirm['snapshot'],
        ])
        connection_tab = widgets.VBox([
            widgets.HTML('<b>Connector</b> (the host a volume is exported to, as os-brick describes it)'),
            _row(self.host, self.initiator),
            self.connector_extra,
            _row(b('validate_connector', 'Validate connector', 'check', '', self.validate_connector),
                 b('connect', 'Connect target volume', 'plug', '', self.connect_volume),
                 m('connector', 'validate_connector', 'connect')),
            self.targets['connection'],
            _row(b('disconnect', 'Disconnect target connection', 'unlink', 'warning', self.disconnect),
                 m('disconnect')),
        ])
        self.tabs = widgets.Tab(children=[volume_tab, snapshot_tab, connection_tab])
        for i, title in enumerate(('Volumes', 'Snapshots', 'Connections')):
            self.tabs.set_title(i, title)
        super().__init__([self.tabs])
        self.add_class('cinder-nb-operations')
        # Enter in a field presses its button
        for field, key in ((self.new_name, 'create_volume'), (self.new_size, 'create_volume'),
                           (self.extend_size, 'extend'), (self.clone_name, 'clone'),
                           (self.snap_name, 'create_snapshot'), (self.from_snap_name, 'volume_from_snapshot'),
                           (self.host, 'connect'), (self.initiator, 'connect')):
            self._on_enter(field, key)
        for section in browser.sections:
            section.on_pick(lambda ident, kind=section.kind: self._target_changed(kind, ident))  # type: ignore[misc]
        self.refresh_backends()
        self.refresh_fields()

    # ------------------------------------------------------------------ building
    def _make_button(self, key: str, description: str, icon: str, style: str,
                     handler: Callable[[], Any]) -> widgets.Button:
        button = _button(description, f'cinder-nb-{key.replace("_", "-")}', icon, style)
        last: list = [0.0, None]

        def clicked(_b: widgets.Button) -> None:
            now, sig = time.monotonic(), self._signature()
            if now - last[0] < self.double_click and sig in (last[1], self._settled):
                return            # the same click again at once (a double-click) does nothing
            last[0], last[1] = now, sig
            handler()
        button.on_click(clicked)
        self.buttons[key] = button
        return button

    def _signature(self) -> tuple:
        """What a click would act on: every field's text and every picked target."""
        fields = (self.backend, self.new_name, self.new_size, self.extend_size, self.clone_name, self.snap_name,
                  self.from_snap_name, self.host, self.initiator, self.connector_extra)
        return tuple(f.value for f in fields) + tuple(s.picked for s in self.browser.sections)

    def _msg(self, name: str, *keys: str) -> widgets.HTML:
        w = _message(name)
        for key in keys or (name,):
            self.messages[key] = w
        return w

    def _on_enter(self, field: widgets.Text, key: str) -> None:
        with warnings.catch_warnings():   # ipywidgets 8 deprecates on_submit; the Enter event is still sent
            warnings.simplefilter('ignore', DeprecationWarning)
            field.on_submit(lambda _w: self.buttons[key].click())

    def _confirm_box(self, kind: str) -> widgets.HBox:
        question = widgets.HTML()
        yes = _button('Delete', f'cinder-nb-confirm-delete-{kind}', 'trash', 'danger')
        no = _button('Cancel', f'cinder-nb-cancel-delete-{kind}')
        yes.on_click(lambda _b: self._confirmed_delete(kind))   # a 2nd click finds nothing pending: no-op
        no.on_click(lambda _b: self._hide_confirm(kind))
        self.buttons[f'confirm_delete_{kind}'] = yes
        box = _row(question, yes, no)
        box.add_class(f'cinder-nb-confirm-{kind}')
        box.question, box.yes = question, yes
        box.layout.display = 'none'
        return box

    # ------------------------------------------------------------------ keeping fields current
    def refresh_backends(self) -> None:
        """Offer every loaded backend in the create-volume dropdown."""
        names = self._backends()
        current = self.backend.value
        if tuple(names) != tuple(self.backend.options):
            self.backend.options = names
        if current in names:
            self.backend.value = current
        elif names:
            self.backend.value = names[0]

    def refresh_fields(self) -> None:
        """Defaults that follow the state: a free volume name, a new size above the target's size."""
        taken = set(self.browser.volumes.df['name'])
        if not self.new_name.value.strip() or self.new_name.value.strip() in taken:
            n = 1
            while f'volume-{n}' in taken:
                n += 1
            self.new_name.value = f'volume-{n}'
        for kind in self.targets:
            self._show_target(kind, self.browser.section(kind).picked)
        ident = self.browser.volumes.picked
        vol = lookup('volume', ident) if ident else None
        typed = self.extend_size.value.strip()
        if vol is not None and (not typed or (typed.isdigit() and int(typed) <= vol.size)):
            self.extend_size.value = str(vol.size + 1)    # never offer a size the volume already has

    def _target_changed(self, kind: str, ident: str | None) -> None:
        self._hide_confirm(kind) if kind in self.confirm else None
        self._show_target(kind, ident)
        if kind == 'volume':
            vol = lookup('volume', ident) if ident else None
            self.extend_size.value = str(vol.size + 1) if vol is not None else ''

    def _show_target(self, kind: str, ident: str | None) -> None:
        obj = lookup(kind, ident) if ident else None
        if obj is None:
            text = (f'<b>On the target {kind}</b>: <i>none picked</i>: click a row in the {kind.capitalize()}s '
                    f'table below, or type in "target {kind}"')
        elif kind == 'volume':
            text = f'<b>On the target volume</b> <code>{_h(nm(obj))}</code>: {obj.size} GiB, {obj.status}'
        elif kind == 'snapshot':
            text = f'<b>On the target snapshot</b> <code>{_h(nm(obj))}</code> of {_h(nm(obj.volume))}'
        else:
            text = f'<b>Target connection</b> <code>{obj.id[:8]}</code> of {_h(nm(obj.volume))}'
        if self.targets[kind].value != text:
            self.targets[kind].value = text

    # ------------------------------------------------------------------ running
    @property
    def busy(self) -> bool:
        return self.runner.running is not None

    def _clear_messages(self) -> None:
        for w in set(self.messages.values()):
            w.value = ''

    def _refuse(self, key: str, exc: CinderNBError) -> None:
        self.messages[key].value = error_html(named(exc.message))

    def _run(self, key: str, label: str, call: Callable[[], Any], select: Callable[[Any], dict] | None = None,
             success_text: Callable[[Any], str] | None = None,
             target: tuple[str, str] | None = None) -> Job | None:
        """Start call() unless a job runs; every operation button stays disabled until it ends."""
        if self.busy:
            return None          # a second click while a job runs (a double-click) does nothing
        self._clear_messages()
        if target is not None and key in self.TRANSITIONS:
            self.browser.mark(target[0], target[1], self.TRANSITIONS[key])

        def unmark() -> None:
            if target is not None:
                self.browser.section(target[0]).pending.pop(target[1], None)

        def done(result: Any) -> None:
            unmark()
            self.browser.refresh(select(result) if select else None)
            self.refresh_fields()
            self._settled = self._signature()

        def failed(_exc: BaseException) -> None:
            unmark()
            self.browser.refresh()
            self.refresh_fields()
            self._settled = self._signature()

        def run() -> Any:
            try:
                return call()
            except CinderNBError as exc:    # name resources by name in what the student reads
                exc.message = named(exc.message)
                raise
        return self.runner.submit(label, run, on_success=done, on_error=failed, success_text=success_text,
                                  buttons=tuple(self.buttons.values()), status=self.messages[key])

    def _checked(self, key: str, check: Callable[[], Any]) -> Any:
        """Run the field checks in the kernel; a bad value is shown next to its field (returns None)."""
        if self.busy:
            return None
        try:
            return check()
        except CinderNBError as exc:
            self._clear_messages()
            self._refuse(key, exc)
            return None

    def connector(self) -> dict:
        """The connector dict from the host / initiator / extra JSON fields (host is required)."""
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
                raise FieldError('extra', extra, f'extra connector fields must be a JSON object ({exc}).') \
                    from None
            if not isinstance(more, dict):
                raise FieldError('extra', extra, 'extra connector fields must be a JSON object, '
                                                      'like {"multipath": false}.')
            conn.update(more)
        if not conn.get('host'):
            raise FieldError('host', '', "The connector has no 'host': type the name of the host the volume "
                                              "is exported to (os-brick connectors always carry it).")
        return conn

    def _target(self, kind: str) -> Any:
        ident = self.browser.section(kind).picked
        obj = lookup(kind, ident) if ident else None
        if obj is None:
            raise NoTarget(kind)
        return obj

    # ------------------------------------------------------------------ volume operations
    def create_volume(self) -> Job | None:
        """Create a volume with the name and size fields on the chosen backend."""
        def check():
            if self.backend.value is None:
                raise FieldError('backend', None, 'No backend is loaded: add one with "Add a backend" first.')
            backend = Backend.backends[self.backend.value]
            return backend, _optional_name('name', self.new_name.value), parse_size('size', self.new_size.value,
                                                                                     backend)
        checked = self._checked('create_volume', check)
        if checked is None:
            return None
        backend, name, size = checked
        return self._run('create_volume', f'Creating volume {name or ""} ({size} GiB)'.replace('  ', ' '),
                         lambda: backend.create_volume(size, name=name), select=lambda v: {'volume': v.id},
                         success_text=lambda v: f'Created volume {nm(v)}, {v.size} GiB')

    def extend_volume(self) -> Job | None:
        def check():
            vol = self._target('volume')
            return vol, parse_size('new size', self.extend_size.value, vol.backend, more_than=vol.size, of=nm(vol),
                                   volume=vol)
        checked = self._checked('extend', check)
        if checked is None:
            return None
        vol, size = checked
        return self._run('extend', f'Extending {nm(vol)} to {size} GiB', lambda: vol.extend(size),
                         success_text=lambda _r: f'Extended {nm(vol)} to {vol.size} GiB', target=('volume', vol.id))

    def clone_volume(self) -> Job | None:
        checked = self._checked('clone', lambda: (self._target('volume'),
                                                  _optional_name('clone name', self.clone_name.value)))
        if checked is None:
            return None
        vol, name = checked
        return self._run('clone', f'Cloning {nm(vol)}', lambda: vol.clone(name=name),
                         select=lambda c: {'volume': c.id}, success_text=lambda c: f'Cloned {nm(vol)} into {nm(c)}',
                         target=('volume', vol.id))

    def create_snapshot(self) -> Job | None:
        checked = self._checked('create_snapshot', lambda: (self._target('volume'),
                                                            _optional_name('snapshot name', self.snap_name.value)))
        if checked is None:
            return None
        vol, name = checked
        return self._run('create_snapshot', f'Snapshotting {nm(vol)}', lambda: vol.create_snapshot(name=name),
                         select=lambda s: {'snapshot': s.id},
                         success_text=lambda s: f'Snapshot {nm(s)} of {nm(vol)} created', target=('volume', vol.id))

    def attach_volume(self) -> Job | None:
        vol = self._checked('attach', lambda: self._target('volume'))
        if vol is None:
            return None
        return self._run('attach', f'Attaching {nm(vol)} here', vol.attach, select=lambda c: {'connection': c.id},
                         success_text=lambda c: f'Attached {nm(vol)} at {c.path}', target=('volume', vol.id))

    def detach_volume(self) -> Job | None:
        vol = self._checked('detach', lambda: self._target('volume'))
        if vol is None:
            return None
        return self._run('detach', f'Detaching {nm(vol)}', vol.detach,
                         success_text=lambda _r: f'Detached {nm(vol)}', target=('volume', vol.id))

    def delete_volume(self) -> Job | None:
        """Ask for confirmation by name; the delete runs when 'Delete <name>' is clicked."""
        return self._ask_delete('volume', 'delete_volume')

    # ------------------------------------------------------------------ snapshot operations
    def delete_snapshot(self) -> Job | None:
        return self._ask_delete('snapshot', 'delete_snapshot')

    def volume_from_snapshot(self) -> Job | None:
        checked = self._checked('volume_from_snapshot', lambda: (
            self._target('snapshot'), _optional_name('volume name', self.from_snap_name.value)))
        if checked is None:
            return None
        snap, name = checked
        return self._run('volume_from_snapshot', f'Creating a volume from {nm(snap)}',
                         lambda: snap.create_volume(name=name), select=lambda v: {'volume': v.id},
                         success_text=lambda v: f'Volume {nm(v)} created from snapshot {nm(snap)}',
                         target=('snapshot', snap.id))

    # ------------------------------------------------------------------ deletes, confirmed by name
    def _ask_delete(self, kind: str, key: str) -> Job | None:
        obj = self._checked(key, lambda: self._target(kind))
        if obj is None:
            return None
        box = self.confirm[kind]
        self._pending_delete[kind] = obj.id
        box.question.value = (f'Delete {kind} <b>{_h(nm(obj))}</b>? Its data is gone for good.')
        box.yes.description = f'Delete {getattr(obj, "name", "") or obj.id[:8]}'
        box.layout.display = 'flex'
        return None

    def _hide_confirm(self, kind: str) -> None:
        self._pending_delete[kind] = None
        self.confirm[kind].layout.display = 'none'

    def _confirmed_delete(self, kind: str) -> Job | None:
        ident = self._pending_delete[kind]
        key = f'delete_{kind}'
        if self.busy or ident is None:
            return None
        self._hide_confirm(kind)
        obj = lookup(kind, ident)
        if obj is None:
            self._refuse(key, CinderNBError(f'That {kind} is gone already: nothing to delete.'))
            return None
        return self._run(key, f'Deleting {kind} {nm(obj)}', obj.delete,
                         success_text=lambda _r: f'Deleted {kind} {nm(obj)}', target=(kind, obj.id))

    # ------------------------------------------------------------------ connections
    def validate_connector(self) -> Job | None:
        def check():
            if self.backend.value is None:
                raise FieldError('backend', None, 'No backend is loaded: add one with "Add a backend" first.')
            return Backend.backends[self.backend.value], self.connector()
        checked = self._checked('validate_connector', check)
        if checked is None:
            return None
        backend, connector = checked
        return self._run('validate_connector', f'Validating the connector on {backend.name}',
                         lambda: backend.validate_connector(connector),
                         success_text=lambda _r: f'Backend {backend.name} accepts this connector')

    def connect_volume(self) -> Job | None:
        checked = self._checked('connect', lambda: (self._target('volume'), self.connector()))
        if checked is None:
            return None
        vol, connector = checked
        return self._run('connect', f'Connecting {nm(vol)}', lambda: vol.connect(connector),
                         select=lambda c: {'connection': c.id},
                         success_text=lambda c: f'Connected {nm(vol)} to {c.connector.get("host")} ({c.protocol})',
                         target=('volume', vol.id))

    def disconnect(self) -> Job | None:
        conn = self._checked('disconnect', lambda: self._target('connection'))
        if conn is None:
            return None

        def call():
            return conn.detach() if conn.attached else conn.disconnect()
        return self._run('disconnect', f'Disconnecting {conn.id[:8]}', call,
                         success_text=lambda _r: f'Connection {conn.id[:8]} of {nm(conn.volume)} closed',
                         target=('connection', conn.id))


def _h(text: str) -> str:
    import html
    return html.escape(text)


__all__ = ['OperationsPanel', 'NoTarget', 'FieldError', 'FieldInputError', 'parse_size', 'named', 'nm']
