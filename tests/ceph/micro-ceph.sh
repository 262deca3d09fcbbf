#!/usr/bin/env bash
# A single-node Ceph cluster for tests and labs: one mon, one mgr, one OSD (memstore),
# cephx on, pool 'volumes' (size 1, rbd), everything bound to 127.0.0.1 under one directory.
#
#   micro-ceph.sh start    install Debian's packages if missing, start (idempotent), print env
#   micro-ceph.sh stop     stop the daemons and remove the directory
#   micro-ceph.sh status   'running' (exit 0) or 'stopped' (exit 1)
#   micro-ceph.sh env      the variables cinder_nb's tests and the ceph lab read
#
# Env: CEPH_DIR, CEPH_MON_PORT, CEPH_MON_V2_PORT; CEPH_MS_BIND_PORT_MIN/MAX narrow the ports the
# OSD and mgr bind (tests/kernel/guest_ceph.py forwards that range into a qemu guest).
# Directory: $CEPH_DIR (default /tmp/cinder_nb-ceph). Needs root (apt, daemons).
set -euo pipefail
DIR=${CEPH_DIR:-/tmp/cinder_nb-ceph}
CONF=$DIR/ceph.conf
POOL=volumes
USER_ID=cinder
PACKAGES="ceph-mon ceph-osd ceph-mgr ceph-common python3-rados python3-rbd rbd-fuse"
MON_PORT=${CEPH_MON_PORT:-6789}
MON_V2_PORT=${CEPH_MON_V2_PORT:-3300}
# optional: the port range the OSD and mgr bind (the guest-kernel tests forward exactly these)
MS_PORT_MIN=${CEPH_MS_BIND_PORT_MIN:-}
MS_PORT_MAX=${CEPH_MS_BIND_PORT_MAX:-}

log() { echo "[micro-ceph] $*" >&2; }

install_packages() {
    local missing=""
    for bin in ceph-mon ceph-osd ceph-mgr ceph rbd-fuse; do
        command -v "$bin" >/dev/null || missing=1
    done
    [ -f /usr/lib/python3/dist-packages/rados.cpython-311-x86_64-linux-gnu.so ] || \
        ls /usr/lib/python3/dist-packages/rados*.so >/dev/null 2>&1 || missing=1
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" != 0 ]; then
        log "Ceph packages are missing and installing them needs root: $PACKAGES"
        return 1
    fi
    log "installing $PACKAGES"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null 2>&1 || {
        apt-get update -qq && apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null
    }
}

ceph_cli() { timeout 30 ceph -c "$CONF" -n client.admin "$@"; }

is_running() {
    [ -f "$CONF" ] && [ -f "$DIR/run/mon.a.pid" ] && kill -0 "$(cat "$DIR/run/mon.a.pid")" 2>/dev/null \
        && [ -f "$DIR/run/osd.0.pid" ] && kill -0 "$(cat "$DIR/run/osd.0.pid")" 2>/dev/null \
        && ceph_cli osd stat 2>/dev/null | grep -q '1 up'
}

print_env() {
    cat <<EOF
export CINDER_NB_CEPH_CONF=$CONF
export CINDER_NB_CEPH_USER=$USER_ID
export CINDER_NB_CEPH_POOL=$POOL
export CINDER_NB_CEPH_KEYRING=$DIR/keyring.client.$USER_ID
export CINDER_NB_CEPH_ADMIN_KEYRING=$DIR/keyring.client.admin
EOF
}

stop() {
    for pidfile in "$DIR"/run/*.pid; do
        [ -f "$pidfile" ] || continue
        kill "$(cat "$pidfile")" 2>/dev/null || true
    done
    sleep 0.5
    for pidfile in "$DIR"/run/*.pid; do
        [ -f "$pidfile" ] || continue
        kill -9 "$(cat "$pidfile")" 2>/dev/null || true
    done
    # rbd-fuse mounts made by cinder_nb's attacher live under the cluster dir
    if [ -d "$DIR/fuse" ]; then
        for m in "$DIR"/fuse/*; do
            mountpoint -q "$m" 2>/dev/null && { fusermount -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; }
        done
    fi
    rm -rf "$DIR"
}

start() {
    install_packages
    if is_running; then
        log "already running in $DIR"
        print_env
        return 0
    fi
    stop
    local t0 fsid osd_uuid
    t0=$(date +%s.%N)
    mkdir -p "$DIR"/{run,log,mon-a,mgr-x,osd-0}
    fsid=$(python3 -c 'import uuid; print(uuid.uuid4())')
    cat > "$CONF" <<EOF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$MON_V2_PORT,v1:127.0.0.1:$MON_PORT]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $DIR/keyring.\$name
run dir = $DIR/run
pid file = $DIR/run/\$name.pid
admin socket = $DIR/run/\$name.asok
log file = $DIR/log/\$name.log
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 1
mon warn on insecure global id reclaim allowed = false
ms bind ipv4 = true
ms bind ipv6 = false
${MS_PORT_MIN:+ms bind port min = $MS_PORT_MIN}
${MS_PORT_MAX:+ms bind port max = $MS_PORT_MAX}

[mon]
mon data = $DIR/mon-\$id
mon cluster log file = $DIR/log/cluster.log

[mgr]
mgr data = $DIR/mgr-\$id
mgr initial modules =

[osd]
osd data = $DIR/osd-\$id
osd objectstore = memstore
memstore device bytes = 4294967296
osd max object name len = 256
osd max object namespace len = 64
EOF
    ceph-authtool --create-keyring "$DIR/keyring.mon.a" --gen-key -n mon. --cap mon 'allow *' >/dev/null
    ceph-authtool --create-keyring "$DIR/keyring.client.admin" --gen-key -n client.admin \
        --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *' >/dev/null
    ceph-authtool "$DIR/keyring.mon.a" --import-keyring "$DIR/keyring.client.admin" >/dev/null
    monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$MON_V2_PORT,v1:127.0.0.1:$MON_PORT]" \
        "$DIR/monmap" >/dev/null
    ceph-mon -c "$CONF" --mkfs -i a --monmap "$DIR/monmap" --keyring "$DIR/keyring.mon.a"
    ceph-mon -c "$CONF" -i a
    ceph_cli auth get-or-create mgr.x mon 'allow profile mgr' osd 'allow *' mds 'allow *' \
        -o "$DIR/keyring.mgr.x" >/dev/null
    ceph-mgr -c "$CONF" -i x
    osd_uuid=$(python3 -c 'import uuid; print(uuid.uuid4())')
    ceph_cli osd new "$osd_uuid" >/dev/null
    ceph_cli auth get-or-create osd.0 mon 'allow profile osd' mgr 'allow profile osd' osd 'allow *' \
        -o "$DIR/keyring.osd.0" >/dev/null
    ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$osd_uuid" >/dev/null 2>&1
    ceph-osd -c "$CONF" -i 0 2>>"$DIR/log/osd.0.stderr"
    for _ in $(seq 1 60); do
        ceph_cli osd stat 2>/dev/null | grep -q '1 up' && break
        sleep 0.5
    done
    ceph_cli osd stat | grep -q '1 up' || { log "the OSD did not come up; see $DIR/log"; return 1; }
    # RBD clone v2 (no protect/unprotect dance) needs mimic+ clients
    ceph_cli osd set-require-min-compat-client mimic >/dev/null 2>&1 || true
    ceph_cli osd pool create "$POOL" 8 8 >/dev/null 2>&1
    ceph_cli osd pool set "$POOL" size 1 --yes-i-really-mean-it >/dev/null 2>&1 || true
    ceph_cli osd pool application enable "$POOL" rbd >/dev/null
    ceph_cli auth get-or-create "client.$USER_ID" mon 'profile rbd' osd "profile rbd pool=$POOL" \
        mgr "profile rbd pool=$POOL" -o "$DIR/keyring.client.$USER_ID" >/dev/null
    for _ in $(seq 1 60); do
        ceph_cli pg stat 2>/dev/null | grep -q 'active+clean' && \
            ! ceph_cli pg stat 2>/dev/null | grep -qE 'creating|peering|unknown' && break
        sleep 0.5
    done
    local t1
    t1=$(date +%s.%N)
    log "cluster up in $(python3 -c "print(round($t1 - $t0, 1))") s: conf $CONF, client keyring $DIR/keyring.client.$USER_ID"
    print_env
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    status) if is_running; then echo running; else echo stopped; exit 1; fi ;;
    env) print_env ;;
    *) echo "usage: $0 {start|stop|status|env}" >&2; exit 2 ;;
esac
