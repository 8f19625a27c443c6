package config

// ParsePerRegion is parsePerRegion for the external test that holds it
// equal to rolesanywhere.ParsePerRegion (this package cannot import it).
var ParsePerRegion = parsePerRegion
