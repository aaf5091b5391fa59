#!/bin/sh
# Entry point of the Asterisk image: writes the settings that come from the environment,
# then runs the command (Asterisk as user asterisk, group recordings).
#
#   CTI_AMI_SECRET   the AMI user cti's secret (required; the service has the same)
#   CTI_AMI_HOST     address AMI listens on                      (127.0.0.1)
#   CTI_AMI_PORT     AMI port                                    (5038)
#   CTI_AGI_HOST     where `cti serve` takes FastAGI (host)      (127.0.0.1; 0.0.0.0 means 127.0.0.1)
#   CTI_AGI_PORT     its port                                    (4573)
#   CTI_PBX_SIP_BIND the SIP/UDP transport's address:port        (0.0.0.0:5060)
#   CTI_PBX_RTP_START, CTI_PBX_RTP_END   RTP port range          (10000, 20000)
#   CTI_PBX_EXTERNAL_ADDRESS  public address to announce behind NAT (none)
set -eu

die() { echo "cti-asterisk: $*" >&2; exit 1; }

secret="${CTI_AMI_SECRET:-}"
[ -n "$secret" ] || die "set CTI_AMI_SECRET (the AMI secret the service logs in with)"
case "$secret" in
    *[!A-Za-z0-9._~+=-]*) die "CTI_AMI_SECRET: use letters, digits and . _ ~ + = - only" ;;
esac

ami_host="${CTI_AMI_HOST:-127.0.0.1}"
ami_port="${CTI_AMI_PORT:-5038}"
agi_host="${CTI_AGI_HOST:-127.0.0.1}"
case "$agi_host" in 0.0.0.0 | "::" | "") agi_host=127.0.0.1 ;; esac
agi_port="${CTI_AGI_PORT:-4573}"
sip_bind="${CTI_PBX_SIP_BIND:-0.0.0.0:5060}"
rtp_start="${CTI_PBX_RTP_START:-10000}"
rtp_end="${CTI_PBX_RTP_END:-20000}"
external="${CTI_PBX_EXTERNAL_ADDRESS:-}"
for pair in "CTI_AMI_HOST=$ami_host" "CTI_AGI_HOST=$agi_host" "CTI_PBX_SIP_BIND=$sip_bind" \
    "CTI_PBX_EXTERNAL_ADDRESS=$external"; do
    case "${pair#*=}" in
        *[!0-9A-Za-z.:_\[\]-]*) die "${pair%%=*}: not an address" ;;
    esac
done
for pair in "CTI_AMI_PORT=$ami_port" "CTI_AGI_PORT=$agi_port" "CTI_PBX_RTP_START=$rtp_start" \
    "CTI_PBX_RTP_END=$rtp_end"; do
    case "${pair#*=}" in
        "" | *[!0-9]*) die "${pair%%=*}: not a port number" ;;
    esac
done

etc=/etc/asterisk
# Our dialplans (the image's copy), the secret put in.
rm -rf "$etc/cti"
cp -r /usr/share/cti-asterisk/dialplans "$etc/cti"
sed -i "s/CTI_AMI_SECRET_PLACEHOLDER/$secret/" "$etc/cti/manager.conf"

cat >"$etc/manager.conf" <<CONF
; written by the image's entry point from the environment
[general]
enabled = yes
port = $ami_port
bindaddr = $ami_host
timestampevents = yes
displayconnects = no

#include "cti/manager.conf"
CONF

{
    echo "; written by the image's entry point from the environment"
    echo "[transport-udp]"
    echo "type = transport"
    echo "protocol = udp"
    echo "bind = $sip_bind"
    if [ -n "$external" ]; then
        echo "external_media_address = $external"
        echo "external_signaling_address = $external"
    fi
} >"$etc/pjsip_transport.conf"

cat >"$etc/rtp.conf" <<CONF
; written by the image's entry point from the environment
[general]
rtpstart = $rtp_start
rtpend = $rtp_end
CONF

cat >"$etc/extensions_globals.conf" <<CONF
; written by the image's entry point from the environment (inside [globals])
CTI_AGI_HOST = $agi_host:$agi_port
CTI_RECORDING_DIR = /var/spool/asterisk/monitor/cti
CONF

# Recordings: one volume shared with the service through the group `recordings`.
spool=/var/spool/asterisk/monitor
mkdir -p "$spool/cti/voicemail"
chgrp recordings "$spool" "$spool/cti" "$spool/cti/voicemail"
chmod 2775 "$spool" "$spool/cti" "$spool/cti/voicemail"
mkdir -p /var/log/asterisk/cdr-csv
chown -R asterisk:asterisk /var/log/asterisk /var/lib/asterisk /var/spool/asterisk/[!m]* \
    /var/run/asterisk 2>/dev/null || true
rm -f /var/run/asterisk/asterisk.ctl /var/run/asterisk/asterisk.pid

# Files and folders Asterisk makes are group-writable (the service deletes old ones).
umask 0002
exec "$@"
