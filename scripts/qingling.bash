# bash completion for qingling. Installed by `make install` into
# $(PREFIX)/share/bash-completion/completions/qingling.

_qingling()
{
    local cur prev words cword
    _init_completion 2>/dev/null || {
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD-1]}
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
    }

    local commands="audit backup calendar commit init key lead principal report status unit workflow"
    local globals="--db --key --json --help"

    case $prev in
    --db|--key|--admin-key|--trust|--note|--html|--csv|--export)
        COMPREPLY=($(compgen -f -- "$cur"))
        return
        ;;
    --kind)
        COMPREPLY=($(compgen -W "township member supervision audit" -- "$cur"))
        return
        ;;
    --format)
        COMPREPLY=($(compgen -W "dot mermaid" -- "$cur"))
        return
        ;;
    --encoding)
        COMPREPLY=($(compgen -W "auto utf-8 gb18030" -- "$cur"))
        return
        ;;
    esac

    # The command is the first word that is not a global option or its value.
    local i cmd="" sub=""
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
        --db|--key) ((i++)) ;;
        -*) ;;
        *)
            if [ -z "$cmd" ]; then cmd=${words[i]}
            elif [ -z "$sub" ]; then sub=${words[i]}
            fi
            ;;
        esac
    done

    if [ -z "$cmd" ]; then
        COMPREPLY=($(compgen -W "$commands $globals" -- "$cur"))
        return
    fi
    if [ "$cmd" = audit ] && [ "$prev" = --state ]; then
        COMPREPLY=($(compgen -f -- "$cur"))
        return
    fi
    local subs=""
    case $cmd in
    audit) subs="verify checkpoint prove verify-proof export cosign" ;;
    calendar) subs="set show" ;;
    commit) subs="sign declare sample verify show spotcheck" ;;
    key) subs="new show" ;;
    lead) subs="add list show move pending approve reject assign merge history import spotcheck" ;;
    principal) subs="add list revoke" ;;
    unit) subs="add list" ;;
    workflow) subs="check add list show graph migrate" ;;
    init) COMPREPLY=($(compgen -W "--origin --admin-key --zone" -- "$cur")); return ;;
    esac
    if [ -z "$sub" ] && [ -n "$subs" ]; then
        COMPREPLY=($(compgen -W "$subs" -- "$cur"))
        return
    fi
    if [[ $cur == -* ]]; then
        case $cmd/$sub in
        lead/add) COMPREPLY=($(compgen -W "--unit --workflow --field" -- "$cur")) ;;
        lead/list) COMPREPLY=($(compgen -W "--unit --state --overdue --json" -- "$cur")) ;;
        lead/move) COMPREPLY=($(compgen -W "--field --note" -- "$cur")) ;;
        lead/import) COMPREPLY=($(compgen -W "--unit --workflow --dry-run --encoding --map --allow-duplicates" -- "$cur")) ;;
        key/new) COMPREPLY=($(compgen -W "--name --no-passphrase" -- "$cur")) ;;
        unit/add) COMPREPLY=($(compgen -W "--name --kind" -- "$cur")) ;;
        principal/add) COMPREPLY=($(compgen -W "--unit --role" -- "$cur")) ;;
        workflow/graph) COMPREPLY=($(compgen -W "--format" -- "$cur")) ;;
        workflow/migrate) COMPREPLY=($(compgen -W "--to --map" -- "$cur")) ;;
        audit/verify) COMPREPLY=($(compgen -W "--trust --export --state --jobs --json" -- "$cur")) ;;
        audit/cosign) COMPREPLY=($(compgen -W "--key --trust --state --jobs --json" -- "$cur")) ;;
        audit/prove) COMPREPLY=($(compgen -W "--size --json" -- "$cur")) ;;
        audit/checkpoint) COMPREPLY=($(compgen -W "--json" -- "$cur")) ;;
        commit/sign) COMPREPLY=($(compgen -W "--unit --cycle --cutoff --deadline --text" -- "$cur")) ;;
        commit/declare|commit/sample|commit/verify) COMPREPLY=($(compgen -W "--unit --cycle" -- "$cur")) ;;
        commit/show) COMPREPLY=($(compgen -W "--unit --cycle --json" -- "$cur")) ;;
        commit/spotcheck) COMPREPLY=($(compgen -W "--field --note" -- "$cur")) ;;
        status/*) COMPREPLY=($(compgen -W "--unit --cycle --why --check --json" -- "$cur")) ;;
        report/*) COMPREPLY=($(compgen -W "--html --csv --unit --cycle --json" -- "$cur")) ;;
        *) COMPREPLY=($(compgen -W "$globals" -- "$cur")) ;;
        esac
        return
    fi
    # audit prove: what to prove comes first.
    if [ "$cmd/$sub" = audit/prove ] && [ "${words[cword-1]}" = prove ]; then
        COMPREPLY=($(compgen -W "inclusion consistency" -- "$cur"))
        return
    fi
    COMPREPLY=($(compgen -f -- "$cur"))
}
complete -F _qingling qingling
