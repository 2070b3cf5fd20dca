package tower

// Routes returns method and pattern of every served route, for the OpenAPI
// test.
func Routes() [][2]string {
	var out [][2]string
	for _, r := range routeTable {
		out = append(out, [2]string{r.method, r.pattern})
	}
	return out
}
