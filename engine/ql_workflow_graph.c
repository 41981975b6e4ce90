/*
 * ql_workflow_graph: the state graph as Graphviz DOT or Mermaid text, for
 * `qingling workflow graph` and the documentation. Output follows file
 * order (states, then transitions, then each transition's from list), so
 * one workflow always gives the same bytes.
 */
#include "ql_workflow.h"

#include <stdlib.h>
#include <string.h>

#include "ql_workflow_impl.h"

/* A growing output buffer; a failed append leaves failed set. */
struct out {
    char *buf;
    size_t len, cap;
    bool failed;
};

static void
put_bytes(struct out *o, const char *s, size_t n)
{
    char *nb;
    size_t cap;

    if (o->failed)
        return;
    if (o->len + n + 1 > o->cap) {
        cap = o->cap == 0 ? 1024 : o->cap;
        while (o->len + n + 1 > cap)
            cap *= 2;
        if ((nb = realloc(o->buf, cap)) == NULL) {
            o->failed = true;
            return;
        }
        o->buf = nb;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void
put(struct out *o, const char *s)
{
    put_bytes(o, s, strlen(s));
}

/* A DOT double-quoted string: backslash and quote escaped. Labels hold no
 * control characters (checked at load), so nothing else needs care. */
static void
put_dot_text(struct out *o, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '"' || *s == '\\')
            put_bytes(o, "\\", 1);
        put_bytes(o, s, 1);
    }
}

/*
 * Mermaid label text. Mermaid has no reliable escape inside state
 * descriptions and edge labels: a ':' starts a new description, ';' ends a
 * statement, '#' starts an entity code, '%' a comment, quotes and brackets
 * confuse the parser. Each is replaced by its full-width form, which reads
 * the same in a Chinese label and cannot break the diagram.
 */
static void
put_mermaid_text(struct out *o, const char *s)
{
    for (; *s != '\0'; s++) {
        switch (*s) {
        case ':':
            put(o, "\xef\xbc\x9a"); /* U+FF1A */
            break;
        case ';':
            put(o, "\xef\xbc\x9b"); /* U+FF1B */
            break;
        case '#':
            put(o, "\xef\xbc\x83"); /* U+FF03 */
            break;
        case '%':
            put(o, "\xef\xbc\x85"); /* U+FF05 */
            break;
        case '"':
            put(o, "\xef\xbc\x82"); /* U+FF02 */
            break;
        case '<':
            put(o, "\xef\xbc\x9c"); /* U+FF1C */
            break;
        case '>':
            put(o, "\xef\xbc\x9e"); /* U+FF1E */
            break;
        case '{':
            put(o, "\xef\xbd\x9b"); /* U+FF5B */
            break;
        case '}':
            put(o, "\xef\xbd\x9d"); /* U+FF5D */
            break;
        case '[':
            put(o, "\xef\xbc\xbb"); /* U+FF3B */
            break;
        case ']':
            put(o, "\xef\xbc\xbd"); /* U+FF3D */
            break;
        case '|':
            put(o, "\xef\xbd\x9c"); /* U+FF5C */
            break;
        case '\\':
            put(o, "\xef\xbc\xbc"); /* U+FF3C */
            break;
        default:
            put_bytes(o, s, 1);
        }
    }
}

static void
graph_dot(const struct ql_workflow *wf, struct out *o)
{
    const struct ql_wf_state *s;
    const struct ql_wf_transition *t;
    size_t i, j;

    put(o, "digraph \"");
    put_dot_text(o, ql_workflow_name(wf));
    put(o, "\" {\n    label=\"");
    put_dot_text(o, ql_workflow_title(wf));
    put(o, "\";\n    labelloc=t;\n    rankdir=TB;\n");
    put(o, "    node [shape=box, style=rounded];\n");
    put(o, "    \"__start\" [shape=point, label=\"\"];\n");
    for (i = 0; i < ql_workflow_state_count(wf); i++) {
        s = ql_workflow_state_at(wf, i);
        put(o, "    \"");
        put(o, s->name);
        put(o, "\" [label=\"");
        put(o, s->name);
        put(o, "\\n");
        put_dot_text(o, s->label);
        put(o, s->terminal ? "\", shape=doublecircle];\n" : "\"];\n");
    }
    put(o, "    \"__start\" -> \"");
    put(o, ql_workflow_initial(wf));
    put(o, "\";\n");
    for (i = 0; i < ql_workflow_transition_count(wf); i++) {
        t = ql_workflow_transition_at(wf, i);
        for (j = 0; j < t->nfrom; j++) {
            put(o, "    \"");
            put(o, t->from[j]);
            put(o, "\" -> \"");
            put(o, t->to);
            put(o, "\" [label=\"");
            put_dot_text(o, t->label);
            put(o, "\"];\n");
        }
    }
    put(o, "}\n");
}

static void
graph_mermaid(const struct ql_workflow *wf, struct out *o)
{
    const struct ql_wf_state *s;
    const struct ql_wf_transition *t;
    size_t i, j;

    /* The title as a comment: front matter would need YAML quoting. */
    put(o, "stateDiagram-v2\n    %% ");
    put(o, ql_workflow_name(wf));
    put(o, " ");
    put_mermaid_text(o, ql_workflow_title(wf));
    put(o, "\n");
    for (i = 0; i < ql_workflow_state_count(wf); i++) {
        s = ql_workflow_state_at(wf, i);
        put(o, "    ");
        put(o, s->name);
        put(o, " : ");
        put(o, s->name);
        put(o, " ");
        put_mermaid_text(o, s->label);
        put(o, "\n");
    }
    put(o, "    [*] --> ");
    put(o, ql_workflow_initial(wf));
    put(o, "\n");
    for (i = 0; i < ql_workflow_transition_count(wf); i++) {
        t = ql_workflow_transition_at(wf, i);
        for (j = 0; j < t->nfrom; j++) {
            put(o, "    ");
            put(o, t->from[j]);
            put(o, " --> ");
            put(o, t->to);
            put(o, " : ");
            put_mermaid_text(o, t->label);
            put(o, "\n");
        }
    }
    for (i = 0; i < ql_workflow_state_count(wf); i++) {
        s = ql_workflow_state_at(wf, i);
        if (!s->terminal)
            continue;
        put(o, "    ");
        put(o, s->name);
        put(o, " --> [*]\n");
    }
}

ql_err
ql_workflow_graph(const struct ql_workflow *wf, enum ql_graph_format fmt,
                  char **out, struct ql_diag *d)
{
    struct out o = {NULL, 0, 0, false};

    if (wf == NULL || out == NULL)
        return ql_fail(d, QL_EUSAGE, "no workflow or result");
    switch (fmt) {
    case QL_GRAPH_DOT:
        graph_dot(wf, &o);
        break;
    case QL_GRAPH_MERMAID:
        graph_mermaid(wf, &o);
        break;
    default:
        return ql_fail(d, QL_EUSAGE, "unknown graph format %d", (int)fmt);
    }
    if (o.failed) {
        free(o.buf);
        return ql_fail(d, QL_ENOMEM, NULL);
    }
    *out = o.buf;
    return QL_OK;
}
