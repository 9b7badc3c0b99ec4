// Package pub is apicheck's test input: every Bad name must be reported,
// nothing else.
package pub

import (
	"io"

	"example.com/m/internal/hidden"
	other "example.com/m/internal/other"
)

type BadAlias = hidden.T

type BadDefined hidden.T

type Fields struct {
	Bad            *hidden.T
	Ok             io.Reader
	hidden         hidden.T // unexported: not API
	other.Embedded          // promoted: API
}

type Iface interface {
	BadMethod() []hidden.T
	ok() hidden.T
}

type Gen[T hidden.Constraint] struct{}

func BadFunc(x map[string]hidden.T) {}

func BadResult() (func() other.U, error) { return nil, nil }

func (Fields) BadMethod(hidden.T) {}

func (Fields) unexported(hidden.T) {}

type private struct{}

func (private) Exported(hidden.T) {}

func ok(hidden.T) {}

var BadVar hidden.T

var OkVar = hidden.Value // a value, not a type: not reported

const OkConst = 1
