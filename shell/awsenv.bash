# awsenv hook for bash. Install: eval "$(awsenv hook bash)" in ~/.bashrc
# shellcheck shell=bash

# Runs at each prompt (first in PROMPT_COMMAND). Keeps $?; bash itself restores $? and
# PIPESTATUS for PS1 after PROMPT_COMMAND. SIGINT is ignored by the shell while awsenv runs, so
# Ctrl-C at an MFA prompt cancels only awsenv (which records the failure and prints the
# statements that keep it from asking again) instead of aborting the prompt command.
_awsenv_hook() {
  local _awsenv_status=$? _awsenv_out _awsenv_int
  _awsenv_int=$(trap -p INT)
  trap -- '' INT
  _awsenv_out=$(__AWSENV_EXE__ export bash)
  if [[ -n $_awsenv_int ]]; then eval "$_awsenv_int"; else trap - INT; fi
  if [[ -n $_awsenv_out ]]; then eval "$_awsenv_out"; fi
  return "$_awsenv_status"
}

# Renders the same text as `awsenv prompt [--format F]` without starting a process (needs
# bash >= 5 for $EPOCHSECONDS; older bash shows no time left). Placeholders: {profile},
# {region}, {remaining}, {expiration}.
awsenv_prompt() {
  local _f=${1:-'{profile} {remaining}'} _p=${AWSENV_PROFILE:-${AWS_VAULT:-}} _r='' _l _m
  [[ -n $_p ]] || return 0
  if [[ -n ${AWS_CREDENTIAL_EXPIRATION:-} && -n ${AWSENV_EXPIRES:-} && -n ${EPOCHSECONDS:-} ]]; then
    _l=$((AWSENV_EXPIRES - EPOCHSECONDS))
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
  _f=${_f//'{profile}'/$_p}
  _f=${_f//'{region}'/${AWS_REGION:-${AWS_DEFAULT_REGION:-}}}
  _f=${_f//'{remaining}'/$_r}
  _f=${_f//'{expiration}'/${AWS_CREDENTIAL_EXPIRATION:-}}
  _f=${_f#"${_f%%[![:space:]]*}"}
  _f=${_f%"${_f##*[![:space:]]}"}
  printf '%s' "$_f"
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
