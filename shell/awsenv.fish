# awsenv hook for fish. Install: awsenv hook fish | source   in ~/.config/fish/config.fish

# Runs before each prompt and when PWD changes; the second run after a cd is answered by
# awsenv's no-op fast path. Event handlers do not change $status for the user's prompt.
# While awsenv runs, a SIGINT handler replaces fish's default of cancelling the running code, so
# Ctrl-C at an MFA prompt cancels only awsenv, whose output (recording the failure, so that it
# does not ask again at every prompt) is still sourced.
function __awsenv_export_eval --on-event fish_prompt --on-variable PWD
    __awsenv_unchanged; and return
    function __awsenv_sigint --on-signal SIGINT
    end
    set -l out (__AWSENV_EXE__ export fish)
    functions --erase __awsenv_sigint
    string join \n -- $out | source
end

# The no-fork fast path: true when nothing `awsenv export` looks at has changed since it last
# handed over its key (the __awsenv_fk_* variables): the directory (its name, and that the name
# still leads to the directory the shell is in: `test . -ef $PWD`, so a directory moved away
# from under the shell is noticed), awsenv's state variables, the .awsprofile candidates, the
# modification times of the nearest .awsprofile, its directory, the trust directory and the
# reload marker, and the refresh time. Builtins only (test, path mtime, math); anything missing
# or different means "ask awsenv".
function __awsenv_unchanged
    set -q __awsenv_fk_pwd[1] __awsenv_fk_watch[1] __awsenv_fk_source[1] __awsenv_fk_refresh[1] __awsenv_fk_until[1]
    or return 1
    test "$PWD" = "$__awsenv_fk_pwd[1]"
    and test . -ef "$PWD"
    and test "$AWSENV_WATCH" = "$__awsenv_fk_watch[1]"
    and test "$AWSENV_SOURCE" = "$__awsenv_fk_source[1]"
    and test "$AWSENV_REFRESH_AT" = "$__awsenv_fk_refresh[1]"
    or return 1
    if test "$__awsenv_fk_until[1]" != 9999999999
        string match -qr '^[0-9]{1,12}$' -- $__awsenv_fk_until[1]; or return 1
        set -l m (path mtime -- /); or return 1
        set -l r (path mtime --relative -- /); or return 1
        test (math $m + $r) -lt $__awsenv_fk_until[1]; or return 1
    end
    for f in $__awsenv_fk_absent
        test -f "$f"; and return 1
    end
    for f in $__awsenv_fk_gone
        test -e "$f"; and return 1
    end
    # One call for every stamp; a path that is gone prints nothing, so the lists differ.
    set -q __awsenv_fk_spath[1]; or return 0
    set -l t (path mtime -- $__awsenv_fk_spath); or return 1
    test "$t" = "$__awsenv_fk_stime"
end

# `awsenv use` and `awsenv unset` change this shell and return awsenv's own exit status, so
# `awsenv use calvin; and terraform plan` stops when it fails; everything else runs the binary.
function awsenv --description 'AWS credentials in your shell'
    switch "$argv[1]"
        case use unset reload
            # Inside a command substitution (`eval (awsenv use calvin)`): print the statements
            # as the binary does, for the caller. (fish runs functions in its own process, so a
            # pipe such as `awsenv use calvin | source` is applied here directly.)
            if status is-command-substitution
                command __AWSENV_EXE__ $argv
                return
            end
            set -l out (AWSENV_SHELL_FN=fish __AWSENV_EXE__ $argv)
            set -l rc $status
            if string match -q -- '# awsenv: eval' "$out[1]"
                string join \n -- $out | source
            else if set -q out[1]
                string join \n -- $out
            end
            return $rc
        case doctor
            # What only this shell knows: does the hook run at each prompt, do completions load.
            set -l first 0
            functions -q __awsenv_export_eval; and set first 1
            set -l comp 0
            complete -c awsenv | string length -q; and set comp 1
            AWSENV_HOOK_STATE="fish;first=$first;complete=$comp" command __AWSENV_EXE__ $argv
        case '*'
            command __AWSENV_EXE__ $argv
    end
end

# Renders the same text as `awsenv prompt` without starting a process:
#   awsenv_prompt [--prefix P] [--suffix S] [FORMAT]
# FORMAT has {profile}, {region}, {remaining}, {expiration}; the prefix and suffix are added
# only when there is something to show. Values are read as data: the expiry must be RFC 3339,
# digit by digit, or no time is shown. fish has no clock variable; the current time is derived
# from `path mtime` (absolute and --relative) of the root directory, both builtins.
function awsenv_prompt
    set -l f '{profile} {remaining}'
    set -l pre ''
    set -l suf ''
    while set -q argv[1]
        switch $argv[1]
            case --prefix
                set -q argv[2]; or return 2
                set pre $argv[2]
                set -e argv[1..2]
            case --suffix
                set -q argv[2]; or return 2
                set suf $argv[2]
                set -e argv[1..2]
            case '*'
                set f $argv[1]
                set -e argv[1]
        end
    end
    set -l p
    if set -q AWSENV_PROFILE[1]; and test -n "$AWSENV_PROFILE"
        set p "$AWSENV_PROFILE"
    else if set -q AWS_VAULT[1]; and test -n "$AWS_VAULT"
        set p "$AWS_VAULT"
    else
        return 0
    end
    set p (string replace -ra '[[:cntrl:]]' '' -- $p)
    test -n "$p"; or return 0
    set -l e
    if set -q AWS_CREDENTIAL_EXPIRATION[1]; and test -n "$AWS_CREDENTIAL_EXPIRATION"
        set e "$AWS_CREDENTIAL_EXPIRATION"
    else if set -q AWS_SESSION_EXPIRATION[1]
        set e "$AWS_SESSION_EXPIRATION"
    end
    set -l r ''
    set -l g (string match -r -- '^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]+)?(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))$' "$e")
    if set -q g[7]
        # g[1] is the whole match; g[2..7] the date and time; g[8..10] the offset, if any.
        set -l y (math $g[2])
        set -l mo (math $g[3])
        test $mo -le 2; and set y (math $y - 1)
        set -l era (math --scale=0 "$y / 400")
        set -l yoe (math "$y % 400")
        set -l doy (math --scale=0 "(153 * (($mo + 9) % 12) + 2) / 5 + $g[4] - 1")
        set -l doe (math --scale=0 "$yoe * 365 + floor($yoe / 4) - floor($yoe / 100) + $doy")
        set -l at (math "($era * 146097 + $doe - 719468) * 86400 + $g[5] * 3600 + $g[6] * 60 + $g[7]")
        if set -q g[10]
            set -l off (math "$g[9] * 3600 + $g[10] * 60")
            if test "$g[8]" = +
                set at (math $at - $off)
            else
                set at (math $at + $off)
            end
        end
        set -l now (math (path mtime /) + (path mtime --relative /))
        set -l l (math $at - $now)
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
    if set -q AWS_REGION[1]; and test -n "$AWS_REGION"
        set region "$AWS_REGION"
    else if set -q AWS_DEFAULT_REGION[1]
        set region "$AWS_DEFAULT_REGION"
    end
    set e (string replace -ra '[[:cntrl:]]' '' -- $e)
    set region (string replace -ra '[[:cntrl:]]' '' -- $region)
    # One pass: a value is never searched for placeholders itself.
    set -l o ''
    while string match -q -- '*{*' "$f"
        set -l parts (string split -m1 -- '{' "$f")
        set o "$o$parts[1]"
        set f "$parts[2]"
        if string match -q -- 'profile}*' "$f"
            set o "$o$p"
            set f (string sub -s 9 -- "$f")
        else if string match -q -- 'region}*' "$f"
            set o "$o$region"
            set f (string sub -s 8 -- "$f")
        else if string match -q -- 'remaining}*' "$f"
            set o "$o$r"
            set f (string sub -s 11 -- "$f")
        else if string match -q -- 'expiration}*' "$f"
            set o "$o$e"
            set f (string sub -s 12 -- "$f")
        else
            set o "$o{"
        end
    end
    set f (string trim -- "$o$f")
    test -n "$f"; or return 0
    printf '%s' "$pre$f$suf"
end

# A key inherited from anywhere is dropped; without the `path` builtin (fish < 3.5) there is no
# fast path and awsenv runs at every prompt.
set -e __awsenv_fk_pwd __awsenv_fk_watch __awsenv_fk_source __awsenv_fk_refresh __awsenv_fk_until __awsenv_fk_absent __awsenv_fk_gone __awsenv_fk_spath __awsenv_fk_stime
if not contains path (builtin -n)
    function __awsenv_unchanged
        return 1
    end
end
true
