"""cinder-rtstool runs in-process for Cinder's LIO target helper (cinder_nb/_cinder/rtstool.py).

The full LIO path needs configfs, which only the guest kernel has (tests/kernel/guest); here
the patch's contract: installed as root, failures reach Cinder as ProcessExecutionError whose
text carries no CHAP password, and other commands still go to Cinder's executor."""
import os

import pytest
from oslo_concurrency import processutils

import cinder_nb as cnb

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='the patch applies as root only (LIO needs root)')


def test_rtstool_failure_names_no_chap_password(session):
    cnb.setup('memory', state_dir=str(session / 'state'))
    from cinder.volume.targets import lio
    assert lio.LioAdm._cinder_nb_in_process
    password = 'Sekret-CHAP-pass-42'
    with pytest.raises(processutils.ProcessExecutionError) as err:
        # no such block device: rtslib fails (on this host also for want of configfs)
        lio.LioAdm._execute('cinder-rtstool', 'create', '/dev/cnb-missing/volume-x',
                            'iqn.2010-10.org.openstack:volume-x', 'user', password, 'False')
    text = str(err.value) + repr(err.value)
    assert 'cinder-rtstool create (in process)' in text
    assert password not in text
    with pytest.raises(processutils.ProcessExecutionError) as err:
        lio.LioAdm._execute('cinder-rtstool', 'add-initiator', 'iqn.x', 'user', password, 'iqn.y')
    assert password not in str(err.value) + repr(err.value)
    out, _err = lio.LioAdm._execute('echo', 'other commands still run')
    assert out.strip() == 'other commands still run'
