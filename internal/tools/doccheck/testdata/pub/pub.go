// Package pub is doccheck's test input: every identifier whose name starts
// with Bad lacks a doc comment and must be reported, no other.
package pub

// Good is documented.
func Good() {}

func BadFunc() {}

func unexported() {}

// T is documented.
type T struct{}

// M is documented.
func (T) M() {}

func (*T) BadMethod() {}

func (t *T) unexported() {}

type hidden struct{}

func (hidden) Exported() {}

// G is a documented generic type.
type G[K comparable, V any] struct{}

func (g *G[K, V]) BadGeneric() {}

type BadType int

// I is a documented interface.
type I interface {
	// Doc is documented.
	Doc()
	Line() // a line comment documents it too
	BadInterfaceMethod()
	unexported()
	T2
}

// T2 is documented.
type T2 interface{}

type (
	// Grouped is documented.
	Grouped    int
	BadGrouped int
)

// Consts of a documented group are documented.
const (
	C1 = 1
	C2 = 2
)

const (
	// D is documented.
	D        = 1
	E        = 2 // documented by a line comment
	BadConst = 3
	bad      = 4
)

var BadVar, alsoBad = 1, 2

// V is documented.
var V = 1
