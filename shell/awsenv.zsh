# awsenv hook for zsh. Install: eval "$(awsenv hook zsh)" in ~/.zshrc

# Runs before each prompt (precmd) and on cd (chpwd). Both fire on `cd`; the second run is
# answered by awsenv's no-op fast path. Keeps $?. SIGINT is ignored by the shell (locally to
# this function) while awsenv runs, so Ctrl-C at an MFA prompt cancels only awsenv, which
# records the failure so it does not ask again at every prompt.
_awsenv_hook() {
  local _awsenv_status=$? _awsenv_out
  setopt localoptions localtraps
  trap -- '' INT
  _awsenv_out=$(__AWSENV_EXE__ export zsh)
  [[ -n $_awsenv_out ]] && eval "$_awsenv_out"
  return $_awsenv_status
}

# Renders the same text as `awsenv prompt [--format F]` without starting a process.
# Placeholders: {profile}, {region}, {remaining}, {expiration}.
awsenv_prompt() {
  emulate -L zsh
  setopt extendedglob
  zmodload -F zsh/datetime p:EPOCHSECONDS 2>/dev/null
  local f=${1:-'{profile} {remaining}'} p=${AWSENV_PROFILE:-${AWS_VAULT:-}} r='' l m
  [[ -n $p ]] || return 0
  if [[ -n ${AWS_CREDENTIAL_EXPIRATION:-} && -n ${AWSENV_EXPIRES:-} && -n ${EPOCHSECONDS:-} ]]; then
    l=$((AWSENV_EXPIRES - EPOCHSECONDS))
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
  f=${f//'{profile}'/$p}
  f=${f//'{region}'/${AWS_REGION:-${AWS_DEFAULT_REGION:-}}}
  f=${f//'{remaining}'/$r}
  f=${f//'{expiration}'/${AWS_CREDENTIAL_EXPIRATION:-}}
  f=${f##[[:space:]]#}
  f=${f%%[[:space:]]#}
  print -rn -- "$f"
}

# Install once, however often this is evaluated.
autoload -Uz add-zsh-hook
add-zsh-hook -d precmd _awsenv_hook
add-zsh-hook -d chpwd _awsenv_hook
add-zsh-hook precmd _awsenv_hook
add-zsh-hook chpwd _awsenv_hook
