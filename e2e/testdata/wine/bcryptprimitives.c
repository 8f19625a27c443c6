// A stand-in bcryptprimitives.dll for Wine 8.0 (Debian bookworm), which has
// none: Go 1.24 and later take their random bytes from its ProcessPrng, so
// every Go program dies at start under that Wine ("bcryptprimitives.dll not
// found"). This forwards to RtlGenRandom (advapi32's SystemFunction036),
// what Go used before. It exists only for the packaging test's Wine run; a
// real Windows has the real DLL.
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
	while (len > 0) {
		ULONG n = len > 0x7fffffff ? 0x7fffffff : (ULONG)len;
		if (!SystemFunction036(data, n)) {
			return FALSE;
		}
		data += n;
		len -= n;
	}
	return TRUE;
}
