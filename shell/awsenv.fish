# awsenv hook for fish. Install: awsenv hook fish | source   in ~/.config/fish/config.fish

# Runs before each prompt and when PWD changes; the second run after a cd is answered by
# awsenv's no-op fast path. Event handlers do not change $status for the user's prompt.
# While awsenv runs, a SIGINT handler replaces fish's default of cancelling the running code, so
# Ctrl-C at an MFA prompt cancels only awsenv, whose output (recording the failure, so that it
# does not ask again at every prompt) is still sourced.
function __awsenv_export_eval --on-event fish_prompt --on-variable PWD
    function __awsenv_sigint --on-signal SIGINT
    end
    set -l out (__AWSENV_EXE__ export fish)
    functions --erase __awsenv_sigint
    string join \n -- $out | source
end

# Renders the same text as `awsenv prompt [--format F]` without starting a process. fish has
# no clock variable; the current time is derived from `path mtime` (absolute and --relative)
# of the root directory, both builtins.
function awsenv_prompt
    set -l f '{profile} {remaining}'
    set -q argv[1]; and set f $argv[1]
    set -l p
    if set -q AWSENV_PROFILE; and test -n "$AWSENV_PROFILE"
        set p $AWSENV_PROFILE
    else if set -q AWS_VAULT; and test -n "$AWS_VAULT"
        set p $AWS_VAULT
    else
        return 0
    end
    set -l r ''
    if set -q AWS_CREDENTIAL_EXPIRATION; and test -n "$AWS_CREDENTIAL_EXPIRATION"; and set -q AWSENV_EXPIRES
        set -l now (math (path mtime /) + (path mtime --relative /))
        set -l l (math $AWSENV_EXPIRES - $now)
        if test $l -le 0
            set r expired
        else if test $l -ge 3600
            set -l m (math --scale=0 "($l % 3600) / 60")
            set r (math --scale=0 "$l / 3600")h
            test $m -eq 0; or set r $r$m"m"
        else if test $l -ge 60
            set r (math --scale=0 "$l / 60")m
        else
            set r $l"s"
        end
    end
    set -l region
    if set -q AWS_REGION; and test -n "$AWS_REGION"
        set region $AWS_REGION
    else if set -q AWS_DEFAULT_REGION
        set region $AWS_DEFAULT_REGION
    end
    set -l exp
    set -q AWS_CREDENTIAL_EXPIRATION; and set exp $AWS_CREDENTIAL_EXPIRATION
    set f (string replace -a '{profile}' "$p" -- $f)
    set f (string replace -a '{region}' "$region" -- $f)
    set f (string replace -a '{remaining}' "$r" -- $f)
    set f (string replace -a '{expiration}' "$exp" -- $f)
    printf '%s' (string trim -- "$f")
end
