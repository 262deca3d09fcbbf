"""Widget logic in-process: set values, click buttons, wait for the worker thread, check state and tables."""
from __future__ import annotations

import html
import re
import threading

import ipywidgets as widgets
import pytest

import cinder_nb as cnb
import cinder_nb.notebook as nb
from cinder_nb import _catalog, _runtime
from cinder_nb._catalog import EMBEDDED_DRIVER, OptionInfo
from cinder_nb.notebook.forms import FieldError, OptionField, driver_choices
from cinder_nb.notebook.jobs import Job, JobRunner


def click(console: nb.Console, key: str):
    """Click an operation button as a person would and wait for its worker thread."""
    console.operations.buttons[key].click()
    job = console.wait(60)
    assert job.done.is_set()
    return job


@pytest.fixture
def console(session):
    """A console with one embedded backend made through the backend form."""
    c = nb.Console(load_drivers=False)
    c.operations.double_click = 0          # tests click faster than a person; one test checks double-clicks
    form = c.backend_form
    form.name.value = 'lab'
    form.set_values(local_file_path=str(session / 'vols'), local_file_attach_mode='file')
    job = form.submit().wait(60)
    assert job.ok, form.status.value
    return c


def _status(c: nb.Console) -> str:
    return c.operations.runner.status.value


def test_backend_form_builds_one_widget_per_option_of_the_embedded_driver(session):
    form = nb.BackendForm(load_drivers=False)
    infos = _catalog.driver_option_infos(EMBEDDED_DRIVER)
    assert list(form.fields) == [i.name for i in infos]
    own = [f for f in form.fields.values() if not f.info.common]
    assert {f.info.name for f in own} == {'local_file_path', 'local_file_attach_mode'}
    # own options are shown first, the common ones in a collapsed accordion
    assert all(f.box in form.own_box.children for f in own)
    assert form.common.selected_index is None
    assert len(form.common_box.children) == len(infos) - len(own) > 50
    path = form.fields['local_file_path']
    assert path.widget.description.endswith('*') and 'Required' in path.widget.tooltip
    mode = form.fields['local_file_attach_mode']
    assert isinstance(mode.widget, widgets.Dropdown) and mode.widget.value == 'auto'
    assert set(mode.widget.options) >= {('auto', 'auto'), ('loop', 'loop'), ('file', 'file')}
    assert mode.widget.tooltip == mode.info.help
    assert isinstance(form.fields['chap_password'].widget, widgets.Password)
    assert isinstance(form.fields['reserved_percentage'].widget, widgets.BoundedIntText)
    assert form.fields['reserved_percentage'].widget.max == 100
    assert isinstance(form.fields['backup_use_temp_snapshot'].widget, widgets.Checkbox)
    assert isinstance(form.fields['target_secondary_ip_addresses'].widget, widgets.Text)
    # defaults are filled in and unchanged defaults are not passed on
    assert form.fields['target_port'].widget.value == 3260
    assert set(form.values()) == {'local_file_path'}


def test_driver_list_loads_in_a_worker_thread_with_the_embedded_driver_first(session):
    form = nb.BackendForm(load_drivers=False)
    main = threading.get_ident()
    seen = []
    real = _catalog.list_supported_drivers

    def spy():
        seen.append(threading.get_ident())
        return real()
    form.loader.submit('Loading', spy, on_success=lambda d: None).wait(120)
    assert seen and seen[0] != main
    job = form.load_drivers()
    assert 'Loading' in form.loading.value        # shown while the thread works
    job.wait(120)
    assert job.ok and len(form.drivers) > 50
    values = [v for _label, v in form.driver.options]
    assert values[0] == EMBEDDED_DRIVER and len(values) == len(set(values)) == len(form.drivers)
    assert 'cinder.volume.drivers.rbd.RBDDriver' in values
    assert 'drivers' in form.loading.value


def test_picking_another_driver_rebuilds_the_form_from_its_options(session):
    form = nb.BackendForm(load_drivers=False)
    form.load_drivers().wait(120)
    path = 'cinder.volume.drivers.hpe.hpe_3par_iscsi.HPE3PARISCSIDriver'
    form.driver.value = path
    own = {i.name for i in _catalog.driver_option_infos(path) if not i.common}
    assert {n for n, f in form.fields.items() if not f.info.common} == own
    assert isinstance(form.fields['hpe3par_password'].widget, widgets.Password)
    assert 'local_file_path' not in form.fields
    # a driver that cannot start: the typed message is shown, the password is not
    form.name.value = 'array'
    form.set_values(hpe3par_password='pa55-word-xyz', hpe3par_api_url='https://127.0.0.1:1/api/v1')
    job = form.submit().wait(120)
    assert not job.ok and isinstance(job.error, cnb.CinderNBError)
    assert 'failed' in form.status.value and 'Traceback' not in form.status.value
    assert 'pa55-word-xyz' not in form.status.value
    assert 'array' not in _runtime.get().backends


def test_rbd_form_offers_the_keyring_file_option_cinder_reads_but_does_not_list(session):
    """Cinder 29's RBDDriver reads rbd_keyring_conf without registering it (cinder_nb._cinder
    lists it), so the Ceph lab's form can point at a keyring file."""
    form = nb.BackendForm(driver='cinder.volume.drivers.rbd.RBDDriver', load_drivers=False)
    field = form.fields['rbd_keyring_conf']
    assert not field.info.common and field.kind == 'text' and 'keyring' in field.info.help
    assert {'rbd_pool', 'rbd_user', 'rbd_ceph_conf', 'rbd_secret_uuid'} <= set(form.fields)


def test_create_backend_errors_show_next_to_the_field(session):
    form = nb.BackendForm(load_drivers=False)
    form.set_values(local_file_path='')
    job = form.submit().wait(60)
    assert isinstance(job.error, cnb.BackendConfigError) and job.error.option == 'local_file_path'
    assert 'local_file_path' in form.fields['local_file_path'].error.value
    assert form.fields['local_file_attach_mode'].error.value == ''
    # a bad value of a common option opens the collapsed section to show its error
    form.set_values(local_file_path=str(session / 'v'), volume_clear_size=5000)
    job = form.submit().wait(60)
    assert job.error.option == 'volume_clear_size'
    assert 'volume_clear_size' in form.fields['volume_clear_size'].error.value
    assert form.fields['local_file_path'].error.value == ''
    assert form.common.selected_index == 0
    form.name.value = 'bad name!'
    form.set_values(volume_clear_size=0)
    job = form.submit().wait(60)
    assert isinstance(job.error, cnb.InvalidArgument) and 'bad name!' in form.name_error.value
    assert _runtime.get().backends == {}


def test_option_field_types_and_client_side_errors():
    num = OptionField(OptionInfo('n', 'integer', None, 'a number', False, False))
    assert isinstance(num.widget, widgets.Text) and num.value() == (False, None)
    num.widget.value = '12'
    assert num.value() == (True, 12)
    num.widget.value = 'twelve'
    with pytest.raises(FieldError, match='integer'):
        num.value()
    lst = OptionField(OptionInfo('l', 'list', ['a', 'b'], '', False, False))
    assert lst.widget.value == 'a, b' and lst.value() == (False, ['a', 'b'])
    lst.widget.value = 'a, c,'
    assert lst.value() == (True, ['a', 'c'])
    dct = OptionField(OptionInfo('d', 'dict', {'k': 'v'}, '', False, False))
    assert dct.widget.value == 'k:v' and dct.value() == (False, 'k:v')
    flt = OptionField(OptionInfo('f', 'float', 1.5, '', False, False, min=0, max=2))
    assert isinstance(flt.widget, widgets.BoundedFloatText) and flt.widget.max == 2
    choice = OptionField(OptionInfo('c', 'string', 'x', '', False, False, choices=[None, 'x', 'y']))
    assert choice.widget.options[0] == ('(unset)', None)
    choice.widget.value = None
    assert choice.value() == (True, None)
    secret = OptionField(OptionInfo('p', 'string', None, '', True, True))
    assert isinstance(secret.widget, widgets.Password) and secret.value() == (False, '')
    assert driver_choices({})[0][1] == EMBEDDED_DRIVER


def _msg(c: nb.Console, key: str) -> str:
    return html.unescape(c.operations.messages[key].value)


def _all_messages(c: nb.Console) -> dict:
    return {k: html.unescape(w.value) for k, w in c.operations.messages.items() if w.value}


def delete(console: nb.Console, kind: str, obj) -> Job:
    """Pick obj, click Delete, then the confirm button that names it."""
    console.browser.select(kind, obj.id)
    console.operations.buttons[f'delete_{kind}'].click()
    box = console.operations.confirm[kind]
    assert box.layout.display == 'flex' and (obj.name or obj.id[:8]) in box.question.value
    return click(console, f'confirm_delete_{kind}')


def test_every_operation_through_the_buttons(console, session):
    ops, browser = console.operations, console.browser
    assert ops.backend.value == 'lab'
    ops.new_name.value, ops.new_size.value = 'data', '1'
    job = click(console, 'create_volume')
    assert job.ok, _msg(console, 'create_volume')
    vol = job.result
    assert (vol.name, vol.size, vol.status) == ('data', 1, 'available')
    assert browser.volumes.picked == vol.id                  # the new volume is the next target
    assert browser.volumes.picker.value == f'data ({vol.id[:8]})' and browser.volumes.grid.selected == vol.id
    assert 'data' in browser.volumes.text() and ops.extend_size.value == '2'
    assert ops.new_name.value == 'volume-1'                  # the create name never defaults to a taken one

    ops.extend_size.value = '3'
    assert click(console, 'extend').ok and vol.size == 3
    assert ' 3 ' in browser.volumes.text() and ops.extend_size.value == '4'   # no stale "new size"

    ops.snap_name.value = 'before'
    job = click(console, 'create_snapshot')
    snap = job.result
    assert snap.name == 'before' and browser.snapshots.picked == snap.id
    assert 'before' in browser.snapshots.text()
    assert f'data ({vol.id[:8]})' in browser.snapshots.text()   # the volume column names the volume

    ops.from_snap_name.value = 'restored'
    restored = click(console, 'volume_from_snapshot').result
    assert restored.snapshot_id == snap.id and browser.volumes.picked == restored.id

    browser.select('volume', vol.id)
    ops.clone_name.value = 'copy'
    clone = click(console, 'clone').result
    assert clone.source_volid == vol.id and clone.size == 3

    browser.select('volume', vol.id)
    conn = click(console, 'attach').result
    assert conn.attached and conn.path and vol.status == 'in-use'
    assert browser.connections.picked == conn.id and 'yes' in browser.connections.text()
    assert click(console, 'detach').ok and vol.status == 'available'
    assert browser.connections.text() == 'no connections'

    ops.host.value = 'compute-7'
    assert click(console, 'validate_connector').ok
    assert 'accepts' in _msg(console, 'validate_connector')
    conn = click(console, 'connect').result
    assert conn.connector['host'] == 'compute-7' and conn.protocol == 'local'
    assert 'compute-7' in browser.connections.text()
    assert click(console, 'disconnect').ok and vol.status == 'available'

    assert delete(console, 'snapshot', snap).ok and snap.status == 'deleted'
    for v in (restored, clone, vol):
        assert delete(console, 'volume', v).ok, _all_messages(console)
        assert v.status == 'deleted' and f'Deleted volume {v.name} ({v.id[:8]})' in _msg(console, 'delete_volume')
        assert browser.volumes.picked is None                # nothing else becomes the target
    df = nb.volumes_df()
    assert df.empty and browser.volumes.text() == 'no volumes'


@pytest.mark.parametrize('typed', ['0', '-1', 'abc', '2.5', '', ' ', '1e3', '99999999', '900000'])
def test_a_bad_size_is_refused_next_to_its_field_and_nothing_is_created(console, typed):
    ops = console.operations
    ops.new_name.value, ops.new_size.value = 'bad', typed
    ops.buttons['create_volume'].click()
    assert ops.runner.last is None                           # no job ran: the kernel refused the input
    assert nb.volumes_df().empty
    messages = _all_messages(console)
    assert list(messages) == ['create_volume'] and 'size' in messages['create_volume']
    assert '✖' in messages['create_volume'] and 'Traceback' not in messages['create_volume']
    if typed == '99999999':
        assert 'expected at most 1048576 GiB' in messages['create_volume']     # the core's limit
    if typed == '900000':
        assert "Cinder's capacity filter refuses it" in messages['create_volume']


def test_extend_refuses_sizes_that_do_not_grow_without_error_rows(console):
    ops = console.operations
    ops.new_name.value, ops.new_size.value = 'db', '5'
    vol = click(console, 'create_volume').result
    for typed, says in (('0', 'at least 1 GiB'), ('5', 'more than the current 5 GiB of db'),
                        ('2.5', 'whole number'), ('99999999', 'at most 1048576 GiB'),
                          ('900000', 'capacity filter refuses it')):
        ops.extend_size.value = typed
        ops.buttons['extend'].click()
        assert 'new size' in _msg(console, 'extend') and says in _msg(console, 'extend'), (typed, _msg(console, 'extend'))
        assert 'new_size=' not in _msg(console, 'extend')
        assert ops.runner.running is None and vol.size == 5
    df = nb.volumes_df()
    assert list(df['status']) == ['available'] and df['error'].isna().all()


def test_messages_sit_by_their_field_and_old_ones_go(console):
    ops = console.operations
    ops.new_size.value = 'abc'
    ops.buttons['create_volume'].click()
    assert 'size' in _msg(console, 'create_volume')
    console.browser.select('snapshot', None)
    ops.buttons['delete_snapshot'].click()                   # another tab: the old error goes
    assert list(_all_messages(console)) == ['delete_snapshot']
    assert 'No snapshot is picked' in _msg(console, 'delete_snapshot')


def test_errors_name_resources_by_name_with_the_id_in_brackets(console):
    ops = console.operations
    ops.new_name.value, ops.new_size.value = 'db', '1'
    vol = click(console, 'create_volume').result
    ops.snap_name.value = 'db-snap-1'
    snap = click(console, 'create_snapshot').result
    job = delete(console, 'volume', vol)
    assert not job.ok
    text = _msg(console, 'delete_volume')
    assert f'db-snap-1 ({snap.id[:8]})' in text and snap.id not in text and vol.id not in text, text
    assert vol.status == 'available'


def test_an_empty_connector_is_refused_naming_host(console):
    ops = console.operations
    ops.new_name.value, ops.new_size.value = 'db', '1'
    vol = click(console, 'create_volume').result
    ops.host.value = ops.initiator.value = ''
    for key in ('validate_connector', 'connect'):
        ops.buttons[key].click()
        assert "no 'host'" in _msg(console, key) and ops.runner.last.result is vol
    ops.connector_extra.value = '{not json'
    ops.host.value = 'h'
    ops.buttons['connect'].click()
    assert 'JSON' in _msg(console, 'connect') and vol.connections == []


def test_enter_in_a_field_presses_its_button(console):
    ops = console.operations
    ops.new_name.value, ops.new_size.value = 'typed', '2'
    ops.new_size._handle_string_msg(None, {'event': 'submit'}, None)   # what the browser sends on Enter
    console.wait(60)
    assert list(nb.volumes_df()['name']) == ['typed']


def test_a_delete_waits_for_confirmation_by_name_and_cancel_keeps_it(console):
    ops = console.operations
    ops.new_name.value, ops.new_size.value = 'keep-me', '1'
    vol = click(console, 'create_volume').result
    ops.buttons['delete_volume'].click()
    box = ops.confirm['volume']
    assert box.layout.display == 'flex' and 'keep-me' in box.question.value
    assert box.yes.description == 'Delete keep-me' and vol.status == 'available'
    box.children[2].click()                                  # Cancel
    assert box.layout.display == 'none' and vol.status == 'available'
    # picking another target withdraws the question
    ops.buttons['delete_volume'].click()
    console.browser.select('volume', None)
    assert box.layout.display == 'none'
    ops.buttons['confirm_delete_volume'].click()
    assert vol.status == 'available'


def test_one_operation_at_a_time_with_the_transitional_status_shown(console, monkeypatch):
    """A slow extend (the driver call held by an Event): every button is disabled, the row says
    'extending…', and clicks meanwhile (Delete, a double-click on Extend) start nothing."""
    ops = console.operations
    ops.new_name.value, ops.new_size.value = 'slow', '1'
    vol = click(console, 'create_volume').result
    driver = vol.backend.driver
    gate, entered = threading.Event(), threading.Event()
    real = driver.extend_volume

    def held(*args):
        entered.set()
        gate.wait(30)
        return real(*args)
    monkeypatch.setattr(driver, 'extend_volume', held)
    ops.extend_size.value = '2'
    ops.buttons['extend'].click()
    assert entered.wait(10)
    jobs = len(ops.runner.jobs)
    try:
        assert all(b.disabled for b in ops.buttons.values())
        assert 'extending…' in console.browser.volumes.text()
        ops.double_click = 0
        ops.buttons['extend'].click()
        ops.buttons['delete_volume'].click()
        ops.buttons['confirm_delete_volume'].click()
        ops.buttons['create_volume'].click()
        assert len(ops.runner.jobs) == jobs and ops.confirm['volume'].layout.display == 'none'
    finally:
        gate.set()
    console.wait(30)
    assert vol.size == 2 and vol.status == 'available' and not any(b.disabled for b in ops.buttons.values())
    assert 'extending' not in console.browser.volumes.text() and len(nb.volumes_df()) == 1


def test_a_double_click_creates_once(console):
    ops = console.operations
    ops.double_click = 0.5
    ops.new_name.value, ops.new_size.value = 'once', '1'
    ops.buttons['create_volume'].click()
    console.wait(30)
    ops.buttons['create_volume'].click()       # the second click of a double-click, after the job ended
    console.wait(30)
    assert len(nb.volumes_df()) == 1


def test_a_grid_row_click_picks_the_target(console):
    ops, browser = console.operations, console.browser
    vols = []
    for name in ('a', 'b', 'c'):
        ops.new_name.value, ops.new_size.value = name, '1'
        vols.append(click(console, 'create_volume').result)
    # what the browser sends when a row is clicked: the row's id
    browser.volumes.grid.set_state({'selected': vols[1].id})
    assert browser.volumes.picked == vols[1].id and browser.volumes.picker.value == f'b ({vols[1].id[:8]})'
    assert 'b (' in ops.targets['volume'].value
    browser.volumes.picker.set_state({'value': f'c ({vols[2].id[:8]})'})   # typed in the picker
    assert browser.volumes.picked == vols[2].id and browser.volumes.grid.selected == vols[2].id
    browser.volumes.clear.click()                                      # the 'none' button
    assert browser.volumes.picked is None and browser.volumes.picker.value == '' and browser.volumes.grid.selected == ''


def test_the_grid_sends_one_page_and_a_pick_on_another_page_turns_to_it(session):
    """The browser gets 15 rows whatever the count; a pick made in the picker shows its page, highlighted."""
    lab = cnb.embedded(str(session / 'v'), local_file_attach_mode='file')
    vols = lab.create_volumes(40, 1, name='data', first=0, workers=4).raise_on_failure().succeeded
    browser = nb.ResourceBrowser()
    grid = browser.volumes.grid
    assert (grid.total, grid.matched, len(grid.rows), grid.page) == (40, 40, 15, 0)
    assert grid.rows[0][0] == 'data-39'                            # newest first
    browser.volumes.picker.set_state({'value': f'data-03 ({vols[3].id[:8]})'})
    assert grid.page == 2 and vols[3].id in grid.row_ids and grid.selected == vols[3].id
    grid.set_state({'page': 0})                                     # the person turns back: the pick stays
    assert browser.volumes.picked == vols[3].id and vols[3].id not in grid.row_ids
    browser.refresh()                                               # a refresh keeps the page a person chose
    assert grid.page == 0
    grid.set_state({'search': 'data-1'})                            # search: data-10 .. data-19
    assert grid.matched == 10 and grid.total == 40 and grid.page == 0
    grid.set_state({'sort_column': 0, 'sort_ascending': False})
    assert [r[0] for r in grid.rows][:3] == ['data-19', 'data-18', 'data-17']
    grid.set_state({'search': '', 'sort_column': 2})                # GiB sorts as numbers
    vols[5].extend(10)
    vols[6].extend(9)
    browser.refresh()
    assert [r[2] for r in grid.rows][:3] == ['10', '9', '1']


def test_the_size_fields_use_the_backends_own_capacity_check(console):
    """A size the core's capacity check (Cinder's CapacityFilter) refuses is refused by the field, with the
    core's message, and nothing is created; the form used to judge by total x ratio, ignoring what is
    already provisioned, so such a size reached the driver call."""
    ops = console.operations
    backend = cnb.backends()[0]
    pool = backend.stats(refresh=True)['pools'][0]
    ratio = float(pool['max_over_subscription_ratio'])
    ops.new_name.value, ops.new_size.value = 'big', '1'
    big = click(console, 'create_volume').result
    # grow it to most of what the pool may provision: what is left is less than total x ratio
    half = int(float(pool['total_capacity_gb']) * ratio * 0.6)
    big.extend(half)
    size = int(float(pool['total_capacity_gb']) * ratio * 0.5)      # fits total x ratio, not what is left
    with pytest.raises(cnb.InsufficientCapacity) as core:
        backend.check_capacity(size)
    ops.new_name.value, ops.new_size.value = 'too-big', str(size)
    jobs = len(ops.runner.jobs)
    ops.buttons['create_volume'].click()
    console.wait(60)
    assert len(ops.runner.jobs) == jobs                              # refused by the field: no job ran
    message = html.unescape(_msg(console, 'create_volume'))
    assert 'cinder-nb-error' in message and core.value.message in message and message.count('size ') >= 1
    assert [v.name for v in cnb.Volume.get_by_name('too-big')] == [] and len(nb.volumes_df()) == 1
    # extend: the same check with the volume's current size
    browser = console.browser
    browser.select('volume', big.id)
    ops.extend_size.value = str(half + size)
    ops.buttons['extend'].click()
    console.wait(60)
    assert len(ops.runner.jobs) == jobs
    message = html.unescape(_msg(console, 'extend'))
    assert 'cinder-nb-error' in message and "Cinder's capacity filter refuses it" in message and big.size == half


def test_a_running_operation_leaves_the_kernel_free_and_shows_elapsed_time(session):
    status = widgets.HTML()
    runner = JobRunner(status)
    gate = threading.Event()
    button = widgets.Button()
    job = runner.submit('Slow call', lambda: gate.wait(30) and 42, buttons=(button,))
    # the caller got the job back at once, while the call still runs in another thread
    assert not job.done.is_set() and button.disabled
    elapsed = re.compile(r'Slow call <span class="cinder-nb-elapsed">(\d+\.\d) s')
    seen = []
    for _ in range(50):
        match = elapsed.search(status.value)
        seen.append(float(match.group(1)) if match else None)
        if seen[-1] and seen[-1] >= 0.4:
            break
        threading.Event().wait(0.1)
    assert seen[-1] and seen[-1] >= 0.4 and not job.done.is_set(), seen   # the ticker advanced
    gate.set()
    job.wait(10)
    assert job.result == 42 and job.elapsed >= 0.4 and not button.disabled and 'cinder-nb-ok' in status.value


def test_tables_follow_the_state_and_one_backend_filter(session):
    a = cnb.embedded(str(session / 'a'), name='a', local_file_attach_mode='file')
    b = cnb.embedded(str(session / 'b'), name='b', local_file_attach_mode='file')
    only_a = nb.ResourceBrowser('a')
    both = nb.ResourceBrowser()
    va = a.create_volume(1, name='on-a')
    b.create_volume(1, name='on-b')
    only_a.refresh()
    both.refresh()
    assert 'on-a' in only_a.volumes.text() and 'on-b' not in only_a.volumes.text()
    assert 'on-a' in both.volumes.text() and 'on-b' in both.volumes.text()
    assert only_a.selected_volume is None                 # made by code: nothing is picked by itself
    only_a.select('volume', va.id)
    assert only_a.selected_volume is va
    va.delete()
    only_a.refresh()
    assert only_a.selected_volume is None and 'no volumes' in only_a.volumes.text()


def test_console_tables_refresh_after_each_notebook_cell(session):
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance()
    try:
        shell.run_cell(f"import cinder_nb as cnb, cinder_nb.notebook as nb\n"
                       f"lab = cnb.embedded({str(session / 'v')!r}, local_file_attach_mode='file')\n"
                       f"console = nb.Console(load_drivers=False)").raise_error()
        console = shell.user_ns['console']
        assert 'no volumes' in console.browser.volumes.text()
        shell.run_cell("lab.create_volume(1, name='typed-in-a-cell')").raise_error()
        assert 'typed-in-a-cell' in console.browser.volumes.text()
        assert console.operations.backend.options == ('embedded',)
    finally:
        InteractiveShell.clear_instance()


def test_notebook_errors_join_the_cinder_nb_error_tree(console):
    """FieldError and NoTarget are InvalidArgument (so CinderNBError): one `except` catches every refusal."""
    from cinder_nb.notebook.errors import FieldError, NoTarget
    assert issubclass(FieldError, cnb.InvalidArgument) and issubclass(NoTarget, cnb.InvalidArgument)
    num = OptionField(OptionInfo('n', 'integer', None, 'a number', False, False))
    num.widget.value = 'x'
    with pytest.raises(cnb.CinderNBError) as exc:
        num.value()
    assert exc.value.argument == 'n' and "got 'x'" in exc.value.message
    with pytest.raises(cnb.InvalidArgument, match='No volume is picked'):
        console.operations._target('volume')
