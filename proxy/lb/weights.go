package lb

// equalWeights reports whether every endpoint has the same weight.
func equalWeights(eps []Endpoint) bool {
	for _, e := range eps[1:] {
		if e.weight() != eps[0].weight() {
			return false
		}
	}
	return true
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// reducedWeights returns the endpoints' weights divided by their greatest
// common divisor, and their sum.
func reducedWeights(eps []Endpoint) ([]uint64, uint64) {
	var g uint64
	for _, e := range eps {
		g = gcd(e.weight(), g)
	}
	ws := make([]uint64, len(eps))
	var total uint64
	for i, e := range eps {
		ws[i] = e.weight() / g
		total += ws[i]
	}
	return ws, total
}
