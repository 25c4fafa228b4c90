# awsenv hook for zsh. Install: eval "$(awsenv hook zsh)" in ~/.zshrc

# Runs before each prompt (precmd) and on cd (chpwd). Both fire on `cd`; the second run is
# answered by awsenv's no-op fast path. Keeps $?. SIGINT is ignored by the shell (locally to
# this function, no subshell) while awsenv runs, so Ctrl-C at an MFA prompt cancels only
# awsenv, which records the failure so it does not ask again at every prompt.
_awsenv_hook() {
  local _awsenv_status=$? _awsenv_out
  _awsenv_unchanged && return $_awsenv_status
  setopt localoptions localtraps
  trap -- '' INT
  _awsenv_out=$(__AWSENV_EXE__ export zsh)
  [[ -n $_awsenv_out ]] && eval "$_awsenv_out"
  return $_awsenv_status
}

# The no-fork fast path: true when nothing `awsenv export` looks at has changed since it last
# handed over its key (the __awsenv_fk_* variables): the directory (its name, and that the name
# still leads to the directory the shell is in: `. -ef $PWD`, so a directory moved away from
# under the shell is noticed), awsenv's state variables, the .awsprofile candidates, the change
# times of the nearest .awsprofile, its directory, the trust directory and the reload marker,
# and the refresh time. Builtins only (zstat, EPOCHSECONDS); anything missing or different means
# "ask awsenv".
# shellcheck disable=SC2154  # the __awsenv_fk_* variables come from awsenv's output
_awsenv_unchanged() {
  emulate -L zsh
  (( ${+__awsenv_fk_pwd} && ${+__awsenv_fk_watch} && ${+__awsenv_fk_source} && ${+__awsenv_fk_refresh} && ${+__awsenv_fk_until} && ${+__awsenv_fk_absent} && ${+__awsenv_fk_gone} && ${+__awsenv_fk_spath} && ${+__awsenv_fk_stime} && ${+EPOCHSECONDS} )) || return 1
  local _awsenv_until=${__awsenv_fk_until[1]-}
  [[ $PWD == "${__awsenv_fk_pwd[1]-}" && . -ef $PWD && ${AWSENV_WATCH-} == "${__awsenv_fk_watch[1]-}" && ${AWSENV_SOURCE-} == "${__awsenv_fk_source[1]-}" && ${AWSENV_REFRESH_AT-} == "${__awsenv_fk_refresh[1]-}" && -n $_awsenv_until && -z ${_awsenv_until//[0-9]/} ]] || return 1
  (( EPOCHSECONDS < _awsenv_until )) || return 1
  local _awsenv_f
  local -i _awsenv_i
  local -a _awsenv_s
  for _awsenv_f in "${__awsenv_fk_absent[@]}"; do
    [[ -f $_awsenv_f ]] && return 1
  done
  for _awsenv_f in "${__awsenv_fk_gone[@]}"; do
    [[ -e $_awsenv_f ]] && return 1
  done
  (( ${#__awsenv_fk_spath} == ${#__awsenv_fk_stime} )) || return 1
  for (( _awsenv_i = 1; _awsenv_i <= ${#__awsenv_fk_spath}; _awsenv_i++ )); do
    zstat -A _awsenv_s +ctime -- "${__awsenv_fk_spath[_awsenv_i]}" 2>/dev/null || return 1
    [[ ${_awsenv_s[1]} == "${__awsenv_fk_stime[_awsenv_i]}" ]] || return 1
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
    if [[ ! -t 1 ]] && ((ZSH_SUBSHELL > 0)); then
      __AWSENV_EXE__ "$@"
      return
    fi
    _awsenv_out=$(AWSENV_SHELL_FN=zsh __AWSENV_EXE__ "$@")
    _awsenv_rc=$?
    case $_awsenv_out in
    '# awsenv: eval'*) eval "$_awsenv_out" ;;
    ?*) print -r -- "$_awsenv_out" ;;
    esac
    return $_awsenv_rc
    ;;
  doctor)
    # What only this shell knows: does the hook run at each prompt, do completions load.
    local _awsenv_first=0 _awsenv_complete=0
    # shellcheck disable=SC2154,SC2004  # zsh's own arrays and subscript flags
    (( ${precmd_functions[(Ie)_awsenv_hook]} )) && _awsenv_first=1
    # shellcheck disable=SC2154
    (( ${+_comps} )) && (( ${+_comps[awsenv]} )) && _awsenv_complete=1
    AWSENV_HOOK_STATE="zsh;first=$_awsenv_first;complete=$_awsenv_complete" __AWSENV_EXE__ "$@"
    ;;
  *) __AWSENV_EXE__ "$@" ;;
  esac
}

# Renders the same text as `awsenv prompt` without starting a process:
#   awsenv_prompt [--prefix P] [--suffix S] [FORMAT]
# FORMAT has {profile}, {region}, {remaining}, {expiration}; the prefix and suffix are added
# only when there is something to show. Values are read as data: the expiry must be RFC 3339,
# digit by digit, or no time is shown.
awsenv_prompt() {
  emulate -L zsh
  setopt extendedglob
  zmodload -F zsh/datetime p:EPOCHSECONDS 2>/dev/null
  # =~ sets these; keep them local to this function.
  # shellcheck disable=SC2034
  local f='{profile} {remaining}' pre='' suf='' p r='' l m e g o y mo d era yoe doy doe MATCH MBEGIN MEND
  # shellcheck disable=SC2034
  local -a match mbegin mend
  local re='^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?([Zz]|([+-])([0-9]{2}):([0-9]{2}))$'
  while (($#)); do
    case $1 in
    --prefix) (($# >= 2)) || return 2; pre=$2; shift 2 ;;
    --suffix) (($# >= 2)) || return 2; suf=$2; shift 2 ;;
    *) f=$1; shift ;;
    esac
  done
  p=${AWSENV_PROFILE:-${AWS_VAULT:-}}
  p=${p//[[:cntrl:]]/}
  [[ -n $p ]] || return 0
  e=${AWS_CREDENTIAL_EXPIRATION:-${AWS_SESSION_EXPIRATION:-}}
  if [[ -n ${EPOCHSECONDS:-} && $e =~ $re ]]; then
    y=$((10#${match[1]})) mo=$((10#${match[2]})) d=$((10#${match[3]}))
    ((mo <= 2)) && y=$((y - 1))
    era=$((y / 400)) yoe=$((y % 400))
    doy=$(((153 * ((mo + 9) % 12) + 2) / 5 + d - 1))
    doe=$((yoe * 365 + yoe / 4 - yoe / 100 + doy))
    l=$(((era * 146097 + doe - 719468) * 86400 + 10#${match[4]} * 3600 + 10#${match[5]} * 60 + 10#${match[6]}))
    if [[ -n ${match[9]} ]]; then
      m=$((10#${match[10]} * 3600 + 10#${match[11]} * 60))
      if [[ ${match[9]} == + ]]; then l=$((l - m)); else l=$((l + m)); fi
    fi
    l=$((l - EPOCHSECONDS))
    if ((l <= 0)); then
      r=expired
    elif ((l >= 3600)); then
      m=$(((l % 3600) / 60))
      r=$((l / 3600))h
      ((m == 0)) || r+=${m}m
    elif ((l >= 60)); then
      r=$((l / 60))m
    else
      r=${l}s
    fi
  fi
  e=${e//[[:cntrl:]]/}
  g=${AWS_REGION:-${AWS_DEFAULT_REGION:-}}
  g=${g//[[:cntrl:]]/}
  # One pass: a value is never searched for placeholders itself.
  o=
  while [[ $f == *'{'* ]]; do
    o+=${f%%'{'*}
    f=${f#*'{'}
    case $f in
    ('profile}'*) o+=$p f=${f#'profile}'} ;;
    ('region}'*) o+=$g f=${f#'region}'} ;;
    ('remaining}'*) o+=$r f=${f#'remaining}'} ;;
    ('expiration}'*) o+=$e f=${f#'expiration}'} ;;
    (*) o+='{' ;;
    esac
  done
  f=$o$f
  f=${f##[[:space:]]#}
  f=${f%%[[:space:]]#}
  [[ -n $f ]] || return 0
  print -rn -- "$pre$f$suf"
}

# Install once, however often this is evaluated. A key inherited from anywhere is dropped; the
# fast path needs zstat (only that builtin: loading all of zsh/stat would shadow stat(1)).
unset __awsenv_fk_pwd __awsenv_fk_watch __awsenv_fk_source __awsenv_fk_refresh __awsenv_fk_until __awsenv_fk_absent __awsenv_fk_gone __awsenv_fk_spath __awsenv_fk_stime 2>/dev/null
zmodload -F zsh/stat b:zstat 2>/dev/null
zmodload -F zsh/datetime p:EPOCHSECONDS 2>/dev/null
autoload -Uz add-zsh-hook
add-zsh-hook -d precmd _awsenv_hook
add-zsh-hook -d chpwd _awsenv_hook
add-zsh-hook precmd _awsenv_hook
add-zsh-hook chpwd _awsenv_hook
