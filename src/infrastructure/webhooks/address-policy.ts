import { BlockList, isIP } from 'node:net';

/**
 * Which addresses a webhook may reach: public unicast only. Everything in the IANA special-purpose
 * registries (RFC 6890 and successors) is refused — loopback, private (RFC 1918, unique local), link-local
 * (with the cloud metadata addresses 169.254.169.254 and fd00:ec2::254), CGNAT, multicast, unspecified,
 * documentation, benchmarking, reserved — and IPv6 outside global unicast (2000::/3). IPv4-mapped IPv6
 * (`::ffff:127.0.0.1`, `::ffff:7f00:1`) is judged as the IPv4 address it maps: Node's BlockList applies
 * IPv4 rules to mapped addresses. NAT64, 6to4 and Teredo, which embed an IPv4 address, are refused.
 */
const IPV4_REFUSED: readonly [string, number][] = [
  ['0.0.0.0', 8], // "this network", unspecified
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // CGNAT
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, cloud metadata
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.88.99.0', 24], // 6to4 relay anycast
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation
  ['203.0.113.0', 24], // documentation
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
];

const IPV6_REFUSED: readonly [string, number][] = [
  ['2001::', 23], // IETF protocol assignments (Teredo 2001::/32 included)
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4
  ['3fff::', 20], // documentation
  ['5f00::', 16], // SRv6 SIDs
];

const refused = new BlockList();
for (const [network, prefix] of IPV4_REFUSED) refused.addSubnet(network, prefix, 'ipv4');
for (const [network, prefix] of IPV6_REFUSED) refused.addSubnet(network, prefix, 'ipv6');

const globalUnicast = new BlockList();
globalUnicast.addSubnet('2000::', 3, 'ipv6');

const mapped = new BlockList();
mapped.addSubnet('::ffff:0:0', 96, 'ipv6');

/** True when `address` (an IPv4 or IPv6 literal) is a public unicast address; false for anything else. */
export const isPublicAddress = (address: string): boolean => {
  const family = isIP(address);
  if (family === 4) return !refused.check(address, 'ipv4');
  if (family !== 6) return false;
  if (refused.check(address, 'ipv6')) return false; // also applies the IPv4 rules to a mapped address
  return mapped.check(address, 'ipv6') || globalUnicast.check(address, 'ipv6');
};
