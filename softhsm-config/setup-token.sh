#!/usr/bin/env bash
# Idempotent set-up of the SoftHSM2 token used by the IMS KMS in development and tests.
#
#   softhsm-config/setup-token.sh [--dir DIR] [--label LABEL] [--classpath CP] [--module PATH]
#
# Creates DIR (default <repo>/var/softhsm) and DIR/tokens, writes DIR/softhsm2.conf from
# softhsm2.conf.template, makes sure a user PIN and an SO PIN exist, and runs
# io.imskms.hsm.TokenSetup, which initialises the token LABEL if no token has that label (and does
# nothing otherwise). Usually run through `bin/kms setup-token`, which builds the classpath.
#
# Secrets: the PINs are never printed, logged or put on a command line. Each comes from the
# environment (KMS_HSM_PIN, KMS_HSM_SO_PIN; then it is not written anywhere) or from a file
# (DIR/user.pin, DIR/so.pin: one line, mode 0600, generated on first use). TokenSetup gets the
# file name or the variable name, never the value.
#
# Exit codes: 0 ok, 1 failure, 2 missing prerequisite, 64 usage error.
set -euo pipefail
# This script handles PINs: no tracing, even under `bash -x` (nothing expands a PIN anyway).
set +x
umask 077

readonly PROG=setup-token
readonly EX_FAIL=1 EX_PREREQ=2 EX_USAGE=64
readonly SYSTEM_TOKEN_STORE=/var/lib/softhsm
readonly MAIN_CLASS=io.imskms.hsm.TokenSetup
readonly PIN_MIN=4 PIN_MAX=255 LABEL_MAX=32

SCRIPT_DIR=$(cd -- "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")" && pwd -P)
REPO_ROOT=$(dirname -- "$SCRIPT_DIR")
readonly SCRIPT_DIR REPO_ROOT
readonly TEMPLATE="$SCRIPT_DIR/softhsm2.conf.template"

say() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
  local code=$1
  shift
  printf '%s: error: %s\n' "$PROG" "$*" >&2
  exit "$code"
}

usage() {
  cat <<EOF
Usage: ${0##*/} [--dir DIR] [--label LABEL] [--classpath CP] [--module PATH]

Sets up (idempotently) the SoftHSM2 token the KMS uses in development and tests.

  --dir DIR        token set-up directory (default: $REPO_ROOT/var/softhsm);
                   never /var/lib/softhsm or below
  --label LABEL    token label, at most $LABEL_MAX bytes (default: ims-kms)
  --classpath CP   classpath with the hsm-adapter classes and the PKCS#11 wrapper
                   (default: \$KMS_CLASSPATH)
  --module PATH    PKCS#11 module (default: /usr/lib/softhsm/libsofthsm2.so)
  -h, --help       show this help

Writes DIR/softhsm2.conf and DIR/tokens/. PINs come from KMS_HSM_PIN / KMS_HSM_SO_PIN when set
(then nothing is written), else from DIR/user.pin / DIR/so.pin, generated (mode 0600) when
absent. PINs are never accepted as arguments and never printed.

Prints progress to stderr and, on success, one line to stdout:
  export SOFTHSM2_CONF=DIR/softhsm2.conf
so that  eval "\$(${0##*/})"  sets it in the calling shell.

Exit codes: 0 ok, 1 failure, 2 missing prerequisite, 64 usage error.
EOF
}

# --- arguments ------------------------------------------------------------------------------

dir="$REPO_ROOT/var/softhsm"
label=ims-kms
classpath=${KMS_CLASSPATH:-}
module=/usr/lib/softhsm/libsofthsm2.so

# Names the option in a message without its value (a misplaced PIN must not be echoed).
option_name() { printf '%s' "${1%%=*}"; }

need_value() {
  if (($# < 2)) || [[ -z $2 ]]; then
    usage >&2
    die "$EX_USAGE" "option $1 needs a non-empty value"
  fi
}

while (($# > 0)); do
  case $1 in
    --dir) need_value "$@"; dir=$2; shift 2 ;;
    --label) need_value "$@"; label=$2; shift 2 ;;
    --classpath | --cp) need_value "$@"; classpath=$2; shift 2 ;;
    --module) need_value "$@"; module=$2; shift 2 ;;
    --dir=* | --label=* | --classpath=* | --cp=* | --module=*)
      [[ -n ${1#*=} ]] || die "$EX_USAGE" "option $(option_name "$1") needs a non-empty value"
      case $1 in
        --dir=*) dir=${1#*=} ;;
        --label=*) label=${1#*=} ;;
        --classpath=* | --cp=*) classpath=${1#*=} ;;
        --module=*) module=${1#*=} ;;
      esac
      shift
      ;;
    -h | --help) usage; exit 0 ;;
    --pin | --pin=* | --so-pin | --so-pin=* | --user-pin | --user-pin=*)
      die "$EX_USAGE" "PINs are never taken on the command line (they would show in ps):" \
        "set KMS_HSM_PIN / KMS_HSM_SO_PIN or use the DIR/user.pin / DIR/so.pin files"
      ;;
    -*)
      usage >&2
      die "$EX_USAGE" "unknown option: $(option_name "$1")"
      ;;
    *)
      usage >&2
      # Not echoed: it could be a PIN typed in the wrong place.
      die "$EX_USAGE" "unexpected argument (value not shown); this script takes options only"
      ;;
  esac
done

# --- checks that need no file system changes ------------------------------------------------

label_bytes=$(printf '%s' "$label" | LC_ALL=C wc -c)
if ((label_bytes > LABEL_MAX)) || [[ $label == *$'\n'* ]]; then
  die "$EX_USAGE" "token label must be 1 to $LABEL_MAX bytes on one line (got $label_bytes bytes)"
fi
[[ -n $classpath ]] ||
  die "$EX_USAGE" "no classpath: pass --classpath CP or set KMS_CLASSPATH (bin/kms setup-token does this)"
[[ -f $module && -r $module ]] ||
  die "$EX_PREREQ" "PKCS#11 module not found or not readable: $module (Debian: apt-get install -y softhsm2)"
command -v java >/dev/null 2>&1 ||
  die "$EX_PREREQ" "java not found on PATH (Debian: apt-get install -y openjdk-17-jdk-headless)"
[[ -f $TEMPLATE && -r $TEMPLATE ]] || die "$EX_FAIL" "config template missing: $TEMPLATE"
[[ $dir != *$'\n'* && $dir != *$'\r'* ]] || die "$EX_USAGE" "--dir must not contain line breaks"

# Refuses DIR equal to or below the system-wide token store, compared both as written (made
# absolute) and with symbolic links resolved, against the store both as written and resolved.
refuse_system_store() {
  local candidate=$1 path forbidden
  local -a forbidden_paths=("$SYSTEM_TOKEN_STORE")
  forbidden_paths+=("$(realpath -m -- "$SYSTEM_TOKEN_STORE")")
  for path in "$(realpath -m -s -- "$candidate")" "$(realpath -m -- "$candidate")"; do
    for forbidden in "${forbidden_paths[@]}"; do
      if [[ $path == "$forbidden" || $path == "$forbidden"/* ]]; then
        die "$EX_USAGE" "refusing $candidate: it is (or is inside) $forbidden, the system-wide" \
          "SoftHSM2 token store; tokens of this project live in a project directory"
      fi
    done
  done
}

refuse_system_store "$dir"
abs_dir=$(realpath -m -- "$dir")
token_dir="$abs_dir/tokens"
conf="$abs_dir/softhsm2.conf"

# SoftHSM2 ends a config line at the first '#' and splits it at '=' (it then reports only to
# syslog), and reads lines into a 1024-byte buffer.
case $token_dir in
  *'#'* | *'='*)
    die "$EX_USAGE" "token directory path must not contain '#' or '=' (SoftHSM2 cannot read" \
      "it from its config): $token_dir"
    ;;
esac
((${#token_dir} <= 900)) || die "$EX_USAGE" "token directory path is too long for SoftHSM2: $token_dir"

# --- directories and config -----------------------------------------------------------------

mkdir -p -- "$token_dir" || die "$EX_FAIL" "cannot create $token_dir"
# The directories exist now: check again with every link resolved.
refuse_system_store "$abs_dir"
[[ -w $abs_dir && -w $token_dir ]] || die "$EX_FAIL" "$abs_dir or $token_dir is not writable"

# Several set-ups on one directory at a time would race on the PIN files and the token.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$abs_dir/.setup.lock"
  flock -w 120 9 || die "$EX_FAIL" "another set-up holds $abs_dir/.setup.lock"
fi

for d in "$abs_dir" "$token_dir"; do
  mode=$(stat -c %a -- "$d")
  if (((8#$mode & 8#077) != 0)); then
    say "warning: $d is accessible to group or others (mode $mode); consider chmod 700"
  fi
done
say "token dir: $token_dir"

tmp_conf=''
cleanup() { [[ -z $tmp_conf ]] || rm -f -- "$tmp_conf"; }
trap cleanup EXIT

# Escape the replacement for sed (delimiter '|', and '\' and '&').
token_dir_sed=$(printf '%s' "$token_dir" | sed -e 's/[\\|&]/\\&/g')
tmp_conf=$(mktemp -- "$abs_dir/.softhsm2.conf.XXXXXX")
sed -e "s|@TOKENDIR@|$token_dir_sed|g" -- "$TEMPLATE" >"$tmp_conf"
if grep -q '@TOKENDIR@' -- "$tmp_conf" ||
  ! grep -Fxq "directories.tokendir = $token_dir" -- "$tmp_conf"; then
  die "$EX_FAIL" "config template $TEMPLATE did not produce a valid directories.tokendir line"
fi
if [[ -f $conf ]] && cmp -s -- "$tmp_conf" "$conf"; then
  rm -f -- "$tmp_conf"
  say "config: $conf (unchanged)"
else
  verb=written
  [[ ! -e $conf ]] || verb='rewritten: it differed from the template'
  mv -f -- "$tmp_conf" "$conf"
  say "config: $conf ($verb)"
fi
tmp_conf=''

# --- PINs -------------------------------------------------------------------------------------

tokens_exist() { [[ -n $(find "$token_dir" -mindepth 1 -maxdepth 1 -print -quit) ]]; }

# check_pin_length WHAT SOURCE LENGTH
check_pin_length() {
  if (($3 < PIN_MIN || $3 > PIN_MAX)); then
    die "$EX_FAIL" "the $1 from $2 has $3 characters; SoftHSM2 needs $PIN_MIN to $PIN_MAX"
  fi
}

# resolve_pin WHAT ENV_VAR FILE: sets pin_source to "env" or "file". The PIN itself is never
# expanded in this shell: lengths are counted through pipes.
resolve_pin() {
  local what=$1 var=$2 file=$3 mode lines length
  if [[ -n ${!var+x} ]]; then
    length=$(($(printenv "$var" | LC_ALL=C wc -c) - 1))
    ((length > 0)) || die "$EX_FAIL" "$var is set but empty; unset it to use $file"
    check_pin_length "$what" "\$$var" "$length"
    pin_source='env'
    if [[ -e $file ]]; then
      say "$what: from \$$var ($file exists and is ignored)"
    else
      say "$what: from \$$var (not written to disk)"
    fi
    return
  fi

  if [[ -e $file || -L $file ]]; then
    [[ -f $file ]] || die "$EX_FAIL" "$file is not a regular file"
    [[ -r $file ]] || die "$EX_FAIL" "$file is not readable"
    mode=$(stat -L -c %a -- "$file")
    if [[ $mode != 600 ]]; then
      chmod 600 -- "$file" || die "$EX_FAIL" "$file has mode $mode and chmod 600 failed"
      say "fixed permissions of $file: mode $mode -> 600"
    fi
    lines=$(LC_ALL=C wc -l <"$file")
    ((lines <= 1)) || die "$EX_FAIL" "$file must hold the $what alone, on one line ($lines lines)"
    length=$(head -n 1 -- "$file" | tr -d '\r\n' | LC_ALL=C wc -c)
    check_pin_length "$what" "$file" "$length"
    pin_source='file'
    say "$what: from $file"
    return
  fi

  # A new PIN cannot open a token that already exists.
  if tokens_exist; then
    die "$EX_FAIL" "$token_dir already holds tokens but $file is missing and \$$var is unset:" \
      "a new $what would not match them. Restore $file, set $var, or remove $token_dir to" \
      "start again (this destroys every key in it)."
  fi
  # noclobber: bash creates the file with O_EXCL; umask 077 makes it 0600. The PIN goes from
  # /dev/urandom to the file through pipes only.
  (
    set -o noclobber
    head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$file"
  ) || die "$EX_FAIL" "cannot create $file"
  length=$(head -n 1 -- "$file" | tr -d '\r\n' | LC_ALL=C wc -c)
  if ((length != 24)) || [[ $(stat -c %a -- "$file") != 600 ]]; then
    rm -f -- "$file"
    die "$EX_FAIL" "generating $file failed"
  fi
  pin_source='file'
  say "$what: generated into $file (mode 600)"
}

user_pin_file="$abs_dir/user.pin"
so_pin_file="$abs_dir/so.pin"

pin_source=''
resolve_pin 'SO PIN' KMS_HSM_SO_PIN "$so_pin_file"
if [[ $pin_source == env ]]; then
  so_pin_args=(--so-pin-env KMS_HSM_SO_PIN)
else
  so_pin_args=(--so-pin-file "$so_pin_file")
fi
resolve_pin 'user PIN' KMS_HSM_PIN "$user_pin_file"
if [[ $pin_source == env ]]; then
  user_pin_args=(--pin-env KMS_HSM_PIN)
else
  user_pin_args=(--pin-file "$user_pin_file")
fi

# --- token ----------------------------------------------------------------------------------

list_token_dirs() { find "$token_dir" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | LC_ALL=C sort; }

# Prints, for each token labelled $label, its "User PIN init." value; needs softhsm2-util.
labelled_tokens() {
  SOFTHSM2_CONF="$conf" softhsm2-util --show-slots 2>/dev/null |
    awk -v want="$label" '
      /^[[:space:]]*User PIN init\.:/ { v = $0; sub(/^[^:]*:[[:space:]]*/, "", v); pin = v }
      /^[[:space:]]*Label:/ {
        v = $0; sub(/^[^:]*:[[:space:]]?/, "", v)
        sub(/^[[:space:]]+/, "", v); sub(/[[:space:]]+$/, "", v)
        if (v == want) print pin
      }'
}

before=$(list_token_dirs)
rc=0
# TokenSetup's stdout goes to stderr: this script's stdout carries only the export line.
SOFTHSM2_CONF="$conf" java --enable-native-access=ALL-UNNAMED -cp "$classpath" "$MAIN_CLASS" \
  --module "$module" --label "$label" "${so_pin_args[@]}" "${user_pin_args[@]}" >&2 || rc=$?
if ((rc != 0)); then
  die "$EX_FAIL" "$MAIN_CLASS failed (exit $rc); the token '$label' in $token_dir may not be usable"
fi
after=$(list_token_dirs)

if command -v softhsm2-util >/dev/null 2>&1; then
  pin_states=$(labelled_tokens || true)
  count=0
  [[ -z $pin_states ]] || count=$(printf '%s\n' "$pin_states" | wc -l)
  if ((count == 0)); then
    die "$EX_FAIL" "$MAIN_CLASS succeeded but softhsm2-util shows no token labelled '$label'"
  elif ((count > 1)); then
    say "warning: $count tokens are labelled '$label' in $token_dir; finding the token by label is ambiguous"
  fi
  if grep -qvx 'yes' <<<"$pin_states"; then
    die "$EX_FAIL" "token '$label' exists but its user PIN is not initialised (an earlier set-up" \
      "stopped half-way?); remove $token_dir and run again"
  fi
fi

if [[ $before != "$after" ]]; then
  say "token '$label': created"
else
  say "token '$label': reused (already initialised)"
fi
say "hint: use this token with"
printf 'export SOFTHSM2_CONF=%q\n' "$conf"
