// This file is empty on purpose: a package that declares a function without a body (the
// //go:linkname pull of SimpleGo's binaryOperandsAndOutput in binarykernels.go) must have an
// assembly file, or the compiler reports "missing function body".
