// Tests never reach the network: zoo downloads may use only the cache and
// mirrors (../shared). The download tests, whose servers are local, opt out.
process.env.EYECANDY_OFFLINE = '1';
