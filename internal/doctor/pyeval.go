package doctor

import (
	"strconv"
	"strings"
)

// A small evaluator for the conditions an app's import-time code runs under: enough Python to
// read `os.environ.get("X", "0") == "1"`, `os.getenv("X", "").lower() not in ("1", "true")`,
// `not FLAG`, `int(os.environ.get("N", "0")) > 0`, and module-level names bound to such
// expressions. Anything else evaluates to unknown, which the rules take as "may run".

type pyKind int

const (
	kindUnknown pyKind = iota
	kindStr
	kindNum
	kindBool
	kindNone
	kindSeq
)

type pyVal struct {
	kind  pyKind
	s     string
	n     float64
	items []pyVal
}

var unknownVal = pyVal{kind: kindUnknown}

func strVal(s string) pyVal { return pyVal{kind: kindStr, s: s} }
func boolVal(b bool) pyVal {
	if b {
		return pyVal{kind: kindBool, n: 1}
	}
	return pyVal{kind: kindBool}
}

// pyTok is a token: a name, a string, a number or an operator.
type pyTok struct {
	kind byte // 'n' name, 's' string, 'd' number, 'o' operator
	text string
}

func pyTokens(s string) []pyTok {
	var out []pyTok
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '"' || c == '\'' || ((c == 'r' || c == 'u' || c == 'b' || c == 'f') && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\'')):
			if c != '"' && c != '\'' {
				i++
			}
			q := s[i]
			j := i + 1
			var b strings.Builder
			for j < len(s) && s[j] != q {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				}
				b.WriteByte(s[j])
				j++
			}
			out = append(out, pyTok{'s', b.String()})
			i = j + 1
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(s) && (s[j] == '_' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			out = append(out, pyTok{'n', s[i:j]})
			i = j
		case c >= '0' && c <= '9':
			j := i
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
				j++
			}
			out = append(out, pyTok{'d', s[i:j]})
			i = j
		default:
			if i+1 < len(s) {
				if two := s[i : i+2]; two == "==" || two == "!=" || two == "<=" || two == ">=" {
					out = append(out, pyTok{'o', two})
					i += 2
					continue
				}
			}
			out = append(out, pyTok{'o', string(c)})
			i++
		}
	}
	return out
}

// pyNode is a parsed expression.
type pyNode struct {
	op   string // name, str, num, attr, call, index, seq, not, and, or, cmp
	text string // the name, literal, attribute or comparison operator
	kids []*pyNode
}

type pyParser struct {
	toks []pyTok
	pos  int
	bad  bool
}

func (p *pyParser) peek() pyTok {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return pyTok{}
}

func (p *pyParser) accept(kind byte, text string) bool {
	t := p.peek()
	if t.kind == kind && t.text == text {
		p.pos++
		return true
	}
	return false
}

func (p *pyParser) expr() *pyNode {
	n := p.and()
	for p.accept('n', "or") {
		n = &pyNode{op: "or", kids: []*pyNode{n, p.and()}}
	}
	return n
}

func (p *pyParser) and() *pyNode {
	n := p.not()
	for p.accept('n', "and") {
		n = &pyNode{op: "and", kids: []*pyNode{n, p.not()}}
	}
	return n
}

func (p *pyParser) not() *pyNode {
	if p.accept('n', "not") {
		return &pyNode{op: "not", kids: []*pyNode{p.not()}}
	}
	return p.comparison()
}

func (p *pyParser) comparison() *pyNode {
	n := p.primary()
	for {
		t := p.peek()
		op := ""
		switch {
		case t.kind == 'o' && (t.text == "==" || t.text == "!=" || t.text == "<" || t.text == ">" || t.text == "<=" || t.text == ">="):
			op = t.text
			p.pos++
		case t.kind == 'n' && t.text == "in":
			op = "in"
			p.pos++
		case t.kind == 'n' && t.text == "not" && p.pos+1 < len(p.toks) && p.toks[p.pos+1].text == "in":
			op = "not in"
			p.pos += 2
		case t.kind == 'n' && t.text == "is":
			p.pos++
			op = "is"
			if p.accept('n', "not") {
				op = "is not"
			}
		default:
			return n
		}
		n = &pyNode{op: "cmp", text: op, kids: []*pyNode{n, p.primary()}}
	}
}

func (p *pyParser) primary() *pyNode {
	n := p.atom()
	for n != nil {
		switch {
		case p.accept('o', "."):
			t := p.peek()
			if t.kind != 'n' {
				p.bad = true
				return n
			}
			p.pos++
			n = &pyNode{op: "attr", text: t.text, kids: []*pyNode{n}}
		case p.accept('o', "("):
			call := &pyNode{op: "call", kids: []*pyNode{n}}
			for !p.accept('o', ")") {
				if p.pos >= len(p.toks) {
					p.bad = true
					return call
				}
				call.kids = append(call.kids, p.expr())
				p.accept('o', ",")
			}
			n = call
		case p.accept('o', "["):
			idx := p.expr()
			if !p.accept('o', "]") {
				p.bad = true
			}
			n = &pyNode{op: "index", kids: []*pyNode{n, idx}}
		default:
			return n
		}
	}
	return n
}

func (p *pyParser) atom() *pyNode {
	t := p.peek()
	switch {
	case t.kind == 'n':
		p.pos++
		return &pyNode{op: "name", text: t.text}
	case t.kind == 's':
		p.pos++
		s := t.text
		// Adjacent literals concatenate.
		for p.peek().kind == 's' {
			s += p.peek().text
			p.pos++
		}
		return &pyNode{op: "str", text: s}
	case t.kind == 'd':
		p.pos++
		return &pyNode{op: "num", text: t.text}
	case t.kind == 'o' && (t.text == "(" || t.text == "["):
		p.pos++
		closer := map[string]string{"(": ")", "[": "]"}[t.text]
		seq := &pyNode{op: "seq"}
		tuple := t.text == "["
		for !p.accept('o', closer) {
			if p.pos >= len(p.toks) {
				p.bad = true
				return seq
			}
			seq.kids = append(seq.kids, p.expr())
			if p.accept('o', ",") {
				tuple = true
			}
		}
		if !tuple && len(seq.kids) == 1 {
			return seq.kids[0] // parentheses, not a tuple
		}
		return seq
	}
	p.bad = true
	return nil
}

// pyEval evaluates expressions of one module at one statement.
type pyEval struct {
	m     *pyModule
	at    int
	depth int
	vars  []string
}

func (e *pyEval) evalString(s string) pyVal {
	p := &pyParser{toks: pyTokens(s)}
	n := p.expr()
	if p.bad || n == nil || p.pos != len(p.toks) {
		return unknownVal
	}
	return e.eval(n)
}

func (e *pyEval) eval(n *pyNode) pyVal {
	switch n.op {
	case "str":
		return strVal(n.text)
	case "num":
		f, err := strconv.ParseFloat(n.text, 64)
		if err != nil {
			return unknownVal
		}
		return pyVal{kind: kindNum, n: f}
	case "seq":
		v := pyVal{kind: kindSeq}
		for _, k := range n.kids {
			v.items = append(v.items, e.eval(k))
		}
		return v
	case "name":
		return e.name(n.text)
	case "not":
		switch truth(e.eval(n.kids[0])) {
		case Yes:
			return boolVal(false)
		case No:
			return boolVal(true)
		}
		return unknownVal
	case "and", "or":
		l := e.eval(n.kids[0])
		lt := truth(l)
		if (n.op == "and" && lt == No) || (n.op == "or" && lt == Yes) {
			return l
		}
		r := e.eval(n.kids[1])
		if lt == Unknown {
			return unknownVal
		}
		return r
	case "cmp":
		return compare(n.text, e.eval(n.kids[0]), e.eval(n.kids[1]))
	case "call":
		return e.call(n)
	case "index":
		if isEnviron(n.kids[0]) {
			if k := e.eval(n.kids[1]); k.kind == kindStr {
				e.vars = append(e.vars, k.s)
				if v, ok := e.m.env.Lookup(k.s); ok {
					return strVal(v)
				}
			}
		}
		return unknownVal
	}
	return unknownVal
}

// isEnviron says n is os.environ (or environ imported from os).
func isEnviron(n *pyNode) bool {
	return (n.op == "attr" && n.text == "environ" && n.kids[0].op == "name" && n.kids[0].text == "os") ||
		(n.op == "name" && n.text == "environ")
}

func (e *pyEval) call(n *pyNode) pyVal {
	fn, args := n.kids[0], n.kids[1:]
	// os.environ.get(k[, default]), os.getenv(k[, default])
	if (fn.op == "attr" && fn.text == "get" && isEnviron(fn.kids[0])) ||
		(fn.op == "attr" && fn.text == "getenv" && fn.kids[0].op == "name" && fn.kids[0].text == "os") ||
		(fn.op == "name" && fn.text == "getenv") {
		if len(args) == 0 {
			return unknownVal
		}
		k := e.eval(args[0])
		if k.kind != kindStr {
			return unknownVal
		}
		e.vars = append(e.vars, k.s)
		if v, ok := e.m.env.Lookup(k.s); ok {
			return strVal(v)
		}
		if len(args) > 1 {
			return e.eval(args[1])
		}
		return pyVal{kind: kindNone}
	}
	if fn.op == "attr" && len(args) == 0 {
		v := e.eval(fn.kids[0])
		if v.kind != kindStr {
			return unknownVal
		}
		switch fn.text {
		case "lower":
			return strVal(strings.ToLower(v.s))
		case "upper":
			return strVal(strings.ToUpper(v.s))
		case "strip":
			return strVal(strings.TrimSpace(v.s))
		}
		return unknownVal
	}
	if fn.op == "name" && len(args) == 1 {
		v := e.eval(args[0])
		switch fn.text {
		case "int", "float":
			switch v.kind {
			case kindNum, kindBool:
				return pyVal{kind: kindNum, n: v.n}
			case kindStr:
				f, err := strconv.ParseFloat(strings.TrimSpace(v.s), 64)
				if err != nil {
					return unknownVal // the import would raise
				}
				return pyVal{kind: kindNum, n: f}
			}
		case "bool":
			switch truth(v) {
			case Yes:
				return boolVal(true)
			case No:
				return boolVal(false)
			}
		case "str":
			if v.kind == kindStr {
				return v
			}
		}
	}
	return unknownVal
}

// name is a name's value at the statement being evaluated: True/False/None, __name__ (never
// "__main__" under a WSGI server), or the last module-level assignment before it.
func (e *pyEval) name(id string) pyVal {
	switch id {
	case "True":
		return boolVal(true)
	case "False":
		return boolVal(false)
	case "None":
		return pyVal{kind: kindNone}
	case "__name__":
		return strVal("(imported by the WSGI server)")
	}
	if e.depth > 8 {
		return unknownVal
	}
	for j := e.at - 1; j >= 0; j-- {
		st := e.m.stmts[j]
		if st.indent != 0 {
			continue
		}
		a := assignLine.FindStringSubmatch(st.text)
		if a == nil || a[1] != id {
			continue
		}
		sub := &pyEval{m: e.m, at: j, depth: e.depth + 1}
		v := sub.evalString(a[2])
		e.vars = append(e.vars, sub.vars...)
		return v
	}
	return unknownVal
}

// compare applies a comparison operator.
func compare(op string, l, r pyVal) pyVal {
	if l.kind == kindUnknown || r.kind == kindUnknown {
		return unknownVal
	}
	switch op {
	case "in", "not in":
		var in bool
		switch r.kind {
		case kindSeq:
			for _, it := range r.items {
				if it.kind == kindUnknown {
					return unknownVal
				}
				if equal(l, it) {
					in = true
				}
			}
		case kindStr:
			if l.kind != kindStr {
				return unknownVal
			}
			in = strings.Contains(r.s, l.s)
		default:
			return unknownVal
		}
		return boolVal(in == (op == "in"))
	case "==", "is":
		return boolVal(equal(l, r))
	case "!=", "is not":
		return boolVal(!equal(l, r))
	}
	if (l.kind == kindNum || l.kind == kindBool) && (r.kind == kindNum || r.kind == kindBool) {
		switch op {
		case "<":
			return boolVal(l.n < r.n)
		case ">":
			return boolVal(l.n > r.n)
		case "<=":
			return boolVal(l.n <= r.n)
		case ">=":
			return boolVal(l.n >= r.n)
		}
	}
	if l.kind == kindStr && r.kind == kindStr {
		switch op {
		case "<":
			return boolVal(l.s < r.s)
		case ">":
			return boolVal(l.s > r.s)
		case "<=":
			return boolVal(l.s <= r.s)
		case ">=":
			return boolVal(l.s >= r.s)
		}
	}
	return unknownVal
}

func equal(a, b pyVal) bool {
	switch {
	case a.kind == kindStr && b.kind == kindStr:
		return a.s == b.s
	case (a.kind == kindNum || a.kind == kindBool) && (b.kind == kindNum || b.kind == kindBool):
		return a.n == b.n
	case a.kind == kindNone && b.kind == kindNone:
		return true
	}
	return false
}
