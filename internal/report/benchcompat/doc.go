// Package benchcompat holds only a test: that `wsgilab compare` reads what `wsgilab bench
// --json` writes. It lives apart from internal/report so that report's own tests do not stop
// building whenever internal/bench is mid-change, while `go test ./...` still catches a
// renamed bench JSON field before compare silently reads zeros.
package benchcompat
