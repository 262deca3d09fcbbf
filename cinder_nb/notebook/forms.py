"""The backend form: a driver dropdown and one widget per option of the chosen driver.

The widgets come from the driver catalog's typed OptionInfo list: the driver's
own options first, the ~60 options every driver accepts in a collapsed section.
Only values that differ from an option's default are passed to Backend(), so the
backend's configuration stays what the person actually chose.
"""
from __future__ import annotations

import html
import os
from typing import Any, Callable

import ipywidgets as widgets

from cinder_nb import _catalog, _runtime
from cinder_nb.backend import Backend
from cinder_nb._catalog import EMBEDDED_DRIVER, OptionInfo
from cinder_nb.notebook.errors import FieldError
from cinder_nb.notebook.jobs import JobRunner, error_html, error_text

LABEL_WIDTH = '240px'
FIELD_WIDTH = '640px'
EMBEDDED_LABEL = 'LocalFileDriver — embedded (sparse files, works anywhere)'


def _style() -> dict:
    return {'description_width': LABEL_WIDTH}


def _layout() -> widgets.Layout:
    return widgets.Layout(width=FIELD_WIDTH)


def _format_list(value: Any) -> str:
    if value is None:
        return ''
    if isinstance(value, (list, tuple, set)):
        return ', '.join(str(v) for v in value)
    return str(value)


def _format_dict(value: Any) -> str:
    if not value:
        return ''
    if isinstance(value, dict):
        return ', '.join(f'{k}:{v}' for k, v in value.items())
    return str(value)


# ---------------------------------------------------------------------- one factory per option type
class _Factory:
    """How options of one type are shown (make), read back (read) and filled in (show).

    Like ipywidgets' interaction.py, the type decides the widget once (``factory_for``); OptionField
    then asks its factory, with no switch on kind strings.
    """

    kind = 'text'

    def make(self, info: OptionInfo, start: Any, common: dict) -> widgets.Widget:
        hint = info.type + (' (required)' if info.required else '')
        return widgets.Text(value=self.show(start), placeholder=hint, **common)

    def read(self, info: OptionInfo, raw: Any) -> tuple[bool, Any]:
        text = raw.strip()
        if text == '' and info.default is None:
            return False, None
        return text != (info.default if info.default is not None else ''), text

    def show(self, value: Any) -> Any:
        """The widget value for an option value (as a person would type it)."""
        return '' if value is None else str(value)


class _Choice(_Factory):
    kind = 'choice'

    def make(self, info, start, common):
        opts = [('(unset)' if c is None else str(c), c) for c in info.choices]
        if start not in info.choices:
            opts.insert(0, ('(unset)' if start is None else str(start), start))
        return widgets.Dropdown(options=opts, value=start, **common)

    def read(self, info, raw):
        return raw != info.default, raw

    def show(self, value):
        return value


class _Bool(_Choice):
    kind = 'bool'

    def make(self, info, start, common):
        return widgets.Checkbox(value=bool(start), indent=True, **common)


class _Number(_Choice):
    """A number with a numeric default: a number box (bounded when the option has both bounds)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def make(self, info, start, common):
        bounded = info.min is not None and info.max is not None
        cls = {('int', False): widgets.IntText, ('int', True): widgets.BoundedIntText,
               ('float', False): widgets.FloatText, ('float', True): widgets.BoundedFloatText}[self.kind, bounded]
        return cls(value=start, **(dict(min=info.min, max=info.max) if bounded else {}), **common)


class _Secret(_Factory):
    kind = 'secret'

    def make(self, info, start, common):
        return widgets.Password(value=self.show(start), placeholder='secret: never saved or shown', **common)

    def read(self, info, raw):
        return raw != '', raw


class _List(_Factory):
    kind = 'list'

    def make(self, info, start, common):
        return widgets.Text(value=self.show(start), placeholder='comma-separated values', **common)

    def read(self, info, raw):
        items = [x.strip() for x in raw.split(',') if x.strip()]
        return items != list(info.default or []), items

    def show(self, value):
        return _format_list(value)


class _Dict(_Factory):
    kind = 'dict'

    def make(self, info, start, common):
        return widgets.Text(value=self.show(start), placeholder='key:value, key:value', **common)

    def read(self, info, raw):
        text = raw.strip()
        return text != _format_dict(info.default), text

    def show(self, value):
        return _format_dict(value)


class _NumberText(_Factory):
    """A number option with no numeric default: typed as text, checked on read."""

    kind = 'number-text'

    def read(self, info, raw):
        text = raw.strip()
        if text == '':
            return False, None
        try:
            number = int(text) if info.type != 'float' else float(text)
        except ValueError:
            expected = 'an integer' if info.type != 'float' else 'a number'
            raise FieldError(info.name, text, f'{info.name} must be {expected}, got {text!r}') from None
        return number != info.default, number


def factory_for(info: OptionInfo, start: Any) -> _Factory:
    """The factory for an option: choices, boolean, number, secret, list, dict or text."""
    if info.choices:
        return _Choice()
    if info.type == 'boolean':
        return _Bool()
    if info.type in ('integer', 'port', 'float'):
        if start is not None and not isinstance(start, str):
            return _Number('float' if info.type == 'float' else 'int')
        return _NumberText()
    if info.secret:
        return _Secret()
    return {'list': _List, 'multistring': _List, 'dict': _Dict}.get(info.type, _Factory)()


class OptionField:
    """One option's widget, with its error label; value() says what to pass to Backend()."""

    def __init__(self, info: OptionInfo, initial: Any = None) -> None:
        self.info = info
        tip = info.help or info.name
        common = dict(description=info.name + (' *' if info.required else ''),
                      tooltip=f'Required. {tip}' if info.required else tip, style=_style(), layout=_layout())
        start = info.default if initial is None else initial
        self.factory = factory_for(info, start)
        self.kind = self.factory.kind
        self.widget = self.factory.make(info, start, common)
        self.widget.add_class(f'cinder-nb-opt-{info.name}')
        if info.required:
            self.widget.add_class('cinder-nb-required')
        self.error = widgets.HTML(layout=widgets.Layout(max_width='520px'))
        self.box = widgets.HBox([self.widget, self.error])

    # ------------------------------------------------------------------ value
    def value(self) -> tuple[bool, Any]:
        """(is_set, value): is_set is False when the widget still holds the option's default."""
        return self.factory.read(self.info, self.widget.value)

    def set(self, value: Any) -> None:
        """Put an option value into the widget as a person would type it."""
        self.widget.value = self.factory.show(value)

    def show_error(self, message: str) -> None:
        self.error.value = error_html(message)

    def clear_error(self) -> None:
        self.error.value = ''


def driver_choices(drivers: dict[str, dict]) -> list[tuple[str, str]]:
    """Dropdown options (label, class path) with the embedded driver first."""
    out = [(EMBEDDED_LABEL, EMBEDDED_DRIVER)]
    for info in sorted(drivers.values(), key=lambda d: (d['class_name'].lower(), d['volume_driver'])):
        path = info['volume_driver']
        if path == EMBEDDED_DRIVER:
            continue
        # the module path tells apart classes of one name (Nexenta's nexenta.iscsi, nexenta.ns5.iscsi)
        module = path.rpartition('.')[0].removeprefix('cinder.volume.drivers.')
        flag = '' if info.get('supported', True) else ' (unsupported)'
        out.append((f"{info['class_name']} — {module}{flag}", path))
    return out


class BackendForm(widgets.VBox):
    """Create a Backend by picking a driver and filling in its options.

    ``prefill`` gives start values by option name (e.g. ``local_file_path``);
    ``on_created`` callbacks get the new Backend. ``load_drivers=True`` lists every
    Cinder driver in a worker thread (it imports each driver module: seconds).
    """

    def __init__(self, name: str = 'lab', driver: str = EMBEDDED_DRIVER, prefill: dict | None = None,
                 load_drivers: bool = True,
                 on_created: Callable[[Backend], Any] | None = None) -> None:
        self.prefill = dict(prefill or {})
        self.backend: Backend | None = None
        self.fields: dict[str, OptionField] = {}
        self.drivers: dict[str, dict] = {}
        self._callbacks: list[Callable[[Backend], Any]] = [on_created] if on_created else []

        self.title = widgets.HTML('<b>New backend</b> — pick a driver, fill in its options, '
                                  'then <i>Create backend</i>. <span style="color:#555">'
                                  '* = required; hover over a field for its help.</span>')
        self.name = widgets.Text(value=name, description='backend name *', style=_style(), layout=_layout(),
                                 tooltip='A name for this backend (volume_backend_name).')
        self.name.add_class('cinder-nb-backend-name')
        self.name_error = widgets.HTML()
        self.driver = widgets.Dropdown(options=[(EMBEDDED_LABEL, EMBEDDED_DRIVER)], value=EMBEDDED_DRIVER,
                                       description='volume driver', style=_style(), layout=_layout())
        self.driver.add_class('cinder-nb-driver')
        self.loading = widgets.HTML()
        self.driver_help = widgets.HTML()
        self.own_box = widgets.VBox()
        self.common_box = widgets.VBox()
        self.common = widgets.Accordion(children=[self.common_box], selected_index=None)
        self.common.set_title(0, 'Common options (accepted by every driver)')
        self.create = widgets.Button(description='Create backend', button_style='primary', icon='plus')
        self.create.add_class('cinder-nb-create-backend')
        self.status = widgets.HTML()
        self.runner = JobRunner(self.status, name='cinder_nb-backend')
        self.loader = JobRunner(self.loading, name='cinder_nb-catalog')
        self.driver.observe(self._driver_changed, names='value')
        self.create.on_click(lambda _b: self.submit())
        super().__init__([self.title, widgets.HBox([self.name, self.name_error]),
                          widgets.HBox([self.driver, self.loading]), self.driver_help,
                          self.own_box, self.common, widgets.HBox([self.create, self.status])])
        self.add_class('cinder-nb-backend-form')
        self._build(EMBEDDED_DRIVER)
        if driver != EMBEDDED_DRIVER:
            self.driver.options = [(EMBEDDED_LABEL, EMBEDDED_DRIVER), (driver, driver)]
            self.driver.value = driver
        if load_drivers:
            self.load_drivers()

    # ------------------------------------------------------------------ driver list
    def load_drivers(self):
        """List every Cinder driver in a worker thread, then fill the dropdown (returns the Job)."""
        def done(drivers: dict) -> None:
            self.drivers = drivers
            current = self.driver.value
            self.driver.unobserve(self._driver_changed, names='value')
            self.driver.options = driver_choices(drivers)
            self.driver.value = current if current in dict(map(reversed, self.driver.options)) else EMBEDDED_DRIVER
            self.driver.observe(self._driver_changed, names='value')
            self._show_driver_help(self.driver.value)
        return self.loader.submit('Loading the Cinder driver list (imports every driver)',
                                  _catalog.list_supported_drivers, on_success=done,
                                  success_text=lambda d: f'{len(d)} drivers')

    def _show_driver_help(self, path: str) -> None:
        info = next((d for d in self.drivers.values() if d['volume_driver'] == path), None)
        if path == EMBEDDED_DRIVER:
            text = ('Cinder driver shipped with cinder_nb: volumes are sparse files; as root a connection '
                    'is a /dev/loopN, otherwise the file itself.')
        elif info:
            text = f"{info['description'] or info['class_name']} (version {info['version']})"
        else:
            text = path
        self.driver_help.value = f'<div style="color:#555;margin-left:{LABEL_WIDTH}">{html.escape(text)}</div>'

    def _driver_changed(self, change: dict) -> None:
        self._build(change['new'])

    # ------------------------------------------------------------------ fields
    def _build(self, path: str) -> None:
        """Replace the option widgets with the ones of driver ``path``."""
        self.status.value = ''
        try:
            infos = _catalog.driver_option_infos(path)
        except Exception as exc:
            self.own_box.children = [widgets.HTML(error_html(error_text(exc)))]
            self.common_box.children = []
            self.fields = {}
            return
        prefill = dict(self.prefill)
        if path == EMBEDDED_DRIVER and 'local_file_path' not in prefill and _runtime.is_setup():
            prefill['local_file_path'] = os.path.join(_runtime.get().state_dir, 'volumes')
        self.fields = {i.name: OptionField(i, prefill.get(i.name)) for i in infos}
        own = [f for f in self.fields.values() if not f.info.common]
        common = [f for f in self.fields.values() if f.info.common]
        own.sort(key=lambda f: (not f.info.required, f.info.name))
        self.own_box.children = ([widgets.HTML(f'<b>{len(own)} options of this driver</b>')] +
                                 [f.box for f in own] if own else
                                 [widgets.HTML('<i>This driver has no options of its own.</i>')])
        self.common_box.children = [f.box for f in common]
        self.common.set_title(0, f'Common options ({len(common)}, accepted by every driver)')
        self._show_driver_help(path)

    def values(self) -> dict[str, Any]:
        """The options that differ from their defaults; FieldError marks the bad fields."""
        out, bad = {}, []
        for name, field in self.fields.items():
            field.clear_error()
            try:
                is_set, value = field.value()
            except FieldError as exc:
                field.show_error(str(exc))
                bad.append(str(exc))
                continue
            if is_set:
                out[name] = value
        if bad:
            raise FieldError('fields', None, '; '.join(bad))
        return out

    def set_values(self, **values: Any) -> None:
        """Put values into the fields (by option name) as a person would type them."""
        for name, value in values.items():
            self.fields[name].set(value)

    # ------------------------------------------------------------------ create
    def on_created(self, callback: Callable[[Backend], Any]) -> None:
        """Call callback(backend) after each backend this form creates."""
        self._callbacks.append(callback)

    def submit(self):
        """Validate the fields and create the backend in a worker thread (returns the Job or None)."""
        self.name_error.value = ''
        try:
            values = self.values()
        except FieldError as exc:
            self.status.value = error_html(f'Fix the marked fields: {exc}')
            return None
        name, path = self.name.value.strip(), self.driver.value

        def failed(exc: BaseException) -> None:
            option = getattr(exc, 'option', None)
            if option in self.fields:
                self.fields[option].show_error(error_text(exc))
                if self.fields[option].info.common:
                    self.common.selected_index = 0
            elif isinstance(exc, Exception) and getattr(exc, 'argument', None) == 'volume_backend_name':
                self.name_error.value = error_html(error_text(exc))

        def created(backend: Backend) -> None:
            self.backend = backend
            for cb in self._callbacks:
                cb(backend)

        return self.runner.submit(f'Creating backend {name!r}', lambda: Backend(name, volume_driver=path, **values),
                                  on_success=created, on_error=failed, buttons=(self.create,),
                                  success_text=lambda b: f'Backend {b.name!r} is ready ({type(b.driver).__name__})')
