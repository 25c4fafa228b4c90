# awsenv hook for bash. Install: eval "$(awsenv hook bash)" in ~/.bashrc
# shellcheck shell=bash

# Runs at each prompt (first in PROMPT_COMMAND) and right after cd/pushd/popd. Keeps $? (bash
# restores $? and PIPESTATUS for PS1 itself). Starts no process when nothing changed (see
# _awsenv_unchanged), and has no trap and no subshell of its own: when awsenv must ask for a
# code it takes the terminal into a process group of its own, so Ctrl-C reaches only awsenv,
# which records the failure in what it prints instead of bash abandoning this function.
_awsenv_hook() {
  local _awsenv_status=$? _awsenv_out
  _awsenv_unchanged && return "$_awsenv_status"
  _awsenv_out=$(__AWSENV_EXE__ export bash)
  if [[ -n $_awsenv_out ]]; then eval "$_awsenv_out"; fi
  return "$_awsenv_status"
}

# The no-fork fast path: true when nothing `awsenv export` looks at has changed since it last
# handed over its key (the __awsenv_fk_* variables): the directory (its name, and that the name
# still leads to the directory the shell is in: `. -ef $PWD`, so a directory moved away from
# under the shell is noticed), awsenv's state variables, the .awsprofile candidates, the nearest
# .awsprofile, its directory, the trust directory and the reload marker (none newer than the
# reference file awsenv dated for this key), and the refresh time. Builtins only; anything
# missing or different means "ask awsenv".
# shellcheck disable=SC2154  # the __awsenv_fk_* variables come from awsenv's output
_awsenv_unchanged() {
  [[ -n ${__awsenv_fk_pwd-} && -n ${__awsenv_fk_ref-} && $PWD == "$__awsenv_fk_pwd" && . -ef $PWD &&
    ${AWSENV_WATCH-} == "${__awsenv_fk_watch-}" && ${AWSENV_SOURCE-} == "${__awsenv_fk_source-}" &&
    ${AWSENV_REFRESH_AT-} == "${__awsenv_fk_refresh-}" ]] || return 1
  local _awsenv_until=${__awsenv_fk_until-} _awsenv_now _awsenv_f
  [[ -n $_awsenv_until && -z ${_awsenv_until//[0-9]/} ]] || return 1
  printf -v _awsenv_now '%(%s)T' -1 2>/dev/null || return 1
  [[ -n $_awsenv_now && -z ${_awsenv_now//[0-9]/} ]] || return 1
  ((10#$_awsenv_now < 10#$_awsenv_until)) || return 1
  for _awsenv_f in ${__awsenv_fk_absent[@]+"${__awsenv_fk_absent[@]}"}; do
    [[ -f $_awsenv_f ]] && return 1
  done
  for _awsenv_f in ${__awsenv_fk_gone[@]+"${__awsenv_fk_gone[@]}"}; do
    [[ -e $_awsenv_f ]] && return 1
  done
  for _awsenv_f in ${__awsenv_fk_spath[@]+"${__awsenv_fk_spath[@]}"}; do
    [[ -e $_awsenv_f && ! $_awsenv_f -nt $__awsenv_fk_ref ]] || return 1
  done
  return 0
}

# `awsenv use` and `awsenv unset` typed at the prompt change this shell and return awsenv's own
# exit status, so `awsenv use calvin && terraform plan` stops when it fails; so does a script
# that sourced the hook. Inside `$(…)` or a pipeline (`eval "$(awsenv use calvin)"`, `| tee`)
# the statements are printed as the binary prints them, so the caller's eval applies them.
# Everything else runs the binary.
awsenv() {
  local _awsenv_out _awsenv_rc
  case ${1-} in
  use | unset | reload)
    # Inside a command substitution or a pipeline (a subshell whose output is captured):
    # print the statements for the caller, as the binary does.
    if [[ ! -t 1 ]] && ((BASH_SUBSHELL > 0)); then
      __AWSENV_EXE__ "$@"
      return
    fi
    _awsenv_out=$(AWSENV_SHELL_FN=bash __AWSENV_EXE__ "$@")
    _awsenv_rc=$?
    case $_awsenv_out in
    '# awsenv: eval'*) eval "$_awsenv_out" ;;
    ?*) printf '%s\n' "$_awsenv_out" ;;
    esac
    return "$_awsenv_rc"
    ;;
  doctor)
    # What only this shell knows: is the hook first in PROMPT_COMMAND, do completions load.
    local _awsenv_first=0 _awsenv_complete=0
    if [[ "$(declare -p PROMPT_COMMAND 2>/dev/null)" == "declare -a"* ]]; then
      [[ ${PROMPT_COMMAND[0]-} == _awsenv_hook ]] && _awsenv_first=1
    else
      # shellcheck disable=SC2128
      [[ ${PROMPT_COMMAND-} == _awsenv_hook* ]] && _awsenv_first=1
    fi
    complete -p awsenv >/dev/null 2>&1 && _awsenv_complete=1
    AWSENV_HOOK_STATE="bash;first=$_awsenv_first;complete=$_awsenv_complete" __AWSENV_EXE__ "$@"
    ;;
  *) __AWSENV_EXE__ "$@" ;;
  esac
}

# A key inherited from anywhere is dropped: only awsenv's output in this shell sets one.
unset __awsenv_fk_pwd __awsenv_fk_watch __awsenv_fk_source __awsenv_fk_refresh __awsenv_fk_until \
  __awsenv_fk_absent __awsenv_fk_gone __awsenv_fk_spath __awsenv_fk_stime __awsenv_fk_ref

# bash has no hook on a directory change: activate right after cd, pushd and popd (so that
# `cd repo && terraform plan` runs with the repo's role), unless they are already functions
# (yours, or ours from an earlier eval).
if ! declare -F cd >/dev/null; then
  cd() { builtin cd "$@" && _awsenv_hook; }
fi
if ! declare -F pushd >/dev/null; then
  pushd() { builtin pushd "$@" && _awsenv_hook; }
fi
if ! declare -F popd >/dev/null; then
  popd() { builtin popd "$@" && _awsenv_hook; }
fi

# Renders the same text as `awsenv prompt` without starting a process (needs bash >= 5 for
# $EPOCHSECONDS; older bash shows no time left):
#   awsenv_prompt [--prefix P] [--suffix S] [FORMAT]
# FORMAT has {profile}, {region}, {remaining}, {expiration}; the prefix and suffix are added
# only when there is something to show: PS1='$(awsenv_prompt --suffix " ")\w \$ '.
# Values are read as data: the expiry must be RFC 3339, digit by digit, or no time is shown.
awsenv_prompt() {
  local _f='{profile} {remaining}' _pre='' _suf='' _p _r='' _l _m _e _g _o _re _d _y _mo _era _yoe _doy _doe
  while (($#)); do
    case $1 in
    --prefix) _pre=${2-} && shift 2 || return 2 ;;
    --suffix) _suf=${2-} && shift 2 || return 2 ;;
    *) _f=$1 && shift ;;
    esac
  done
  _p=${AWSENV_PROFILE:-${AWS_VAULT:-}}
  _p=${_p//[[:cntrl:]]/}
  [[ -n $_p ]] || return 0
  _e=${AWS_CREDENTIAL_EXPIRATION:-${AWS_SESSION_EXPIRATION:-}}
  _re='^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?([Zz]|([+-])([0-9]{2}):([0-9]{2}))$'
  if [[ -n ${EPOCHSECONDS:-} && $_e =~ $_re ]]; then
    _y=$((10#${BASH_REMATCH[1]})) _mo=$((10#${BASH_REMATCH[2]})) _d=$((10#${BASH_REMATCH[3]}))
    ((_mo <= 2)) && _y=$((_y - 1))
    _era=$((_y / 400)) _yoe=$((_y % 400))
    _doy=$(((153 * ((_mo + 9) % 12) + 2) / 5 + _d - 1))
    _doe=$((_yoe * 365 + _yoe / 4 - _yoe / 100 + _doy))
    _l=$(((_era * 146097 + _doe - 719468) * 86400 + 10#${BASH_REMATCH[4]} * 3600 + 10#${BASH_REMATCH[5]} * 60 + 10#${BASH_REMATCH[6]}))
    if [[ -n ${BASH_REMATCH[9]} ]]; then
      _m=$((10#${BASH_REMATCH[10]} * 3600 + 10#${BASH_REMATCH[11]} * 60))
      if [[ ${BASH_REMATCH[9]} == + ]]; then _l=$((_l - _m)); else _l=$((_l + _m)); fi
    fi
    _l=$((_l - EPOCHSECONDS))
    if ((_l <= 0)); then
      _r=expired
    elif ((_l >= 3600)); then
      _m=$(((_l % 3600) / 60))
      _r=$((_l / 3600))h
      ((_m == 0)) || _r+=${_m}m
    elif ((_l >= 60)); then
      _r=$((_l / 60))m
    else
      _r=${_l}s
    fi
  fi
  _e=${_e//[[:cntrl:]]/}
  _g=${AWS_REGION:-${AWS_DEFAULT_REGION:-}}
  _g=${_g//[[:cntrl:]]/}
  # One pass: a value is never searched for placeholders itself.
  _o=
  while [[ $_f == *'{'* ]]; do
    _o+=${_f%%'{'*}
    _f=${_f#*'{'}
    case $_f in
    'profile}'*) _o+=$_p _f=${_f#'profile}'} ;;
    'region}'*) _o+=$_g _f=${_f#'region}'} ;;
    'remaining}'*) _o+=$_r _f=${_f#'remaining}'} ;;
    'expiration}'*) _o+=$_e _f=${_f#'expiration}'} ;;
    *) _o+='{' ;;
    esac
  done
  _f=$_o$_f
  _f=${_f#"${_f%%[![:space:]]*}"}
  _f=${_f%"${_f##*[![:space:]]}"}
  [[ -n $_f ]] || return 0
  printf '%s' "$_pre$_f$_suf"
}

# Install once, however often this is evaluated; PROMPT_COMMAND may be a string or (bash >= 5.1)
# an array.
if [[ "$(declare -p PROMPT_COMMAND 2>/dev/null)" == "declare -a"* ]]; then
  if [[ " ${PROMPT_COMMAND[*]} " != *" _awsenv_hook "* ]]; then
    PROMPT_COMMAND=(_awsenv_hook "${PROMPT_COMMAND[@]}")
  fi
elif [[ ";${PROMPT_COMMAND:-};" != *";_awsenv_hook;"* ]]; then
  # PROMPT_COMMAND is a string in this branch.
  # shellcheck disable=SC2128,SC2178
  PROMPT_COMMAND="_awsenv_hook${PROMPT_COMMAND:+;$PROMPT_COMMAND}"
fi
