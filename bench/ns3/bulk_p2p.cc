/* bulk_p2p: ns-3's side of the simulator comparison (bench/sim_vs_ns3.sh).
 *
 * The topology and transfer of bench/scenarios/bulk_10g.yaml: two nodes on
 * one point-to-point link, 10 Gbps and 100 us each way, a 4096-packet
 * drop-tail queue in the device, MTU 1500; TCP NewReno; a BulkSendApplication
 * sends without end to a PacketSink for 10 simulated seconds. Prints the
 * bytes the sink received, the simulated seconds, the events and the wall
 * time of Simulator::Run() (setup excluded, as twin's own figure excludes
 * loading the scenario).
 *
 * TCP is configured as twin's stack runs in that scenario: payload 1448
 * bytes per segment (MSS 1460 less the 12 bytes of the timestamp option),
 * send and receive buffers of 312500 bytes (the 1.25 x BDP that twin's
 * runner gives a host of this link), window scaling and timestamps on, SACK
 * off (twin has none), an ACK for every second segment or after 40 ms,
 * initial window 10 segments, RTO minimum 200 ms, NewReno's own loss
 * recovery (RFC 6582) rather than ns-3's default PRR. The traffic-control
 * layer's default queue disc is removed so the device queue is the only
 * queue, as on twin's link.
 *
 * Usage: bulk_p2p [--seconds=N]   (default 10) */
#include <chrono>
#include <cinttypes>
#include <cstdio>

#include "ns3/applications-module.h"
#include "ns3/core-module.h"
#include "ns3/internet-module.h"
#include "ns3/network-module.h"
#include "ns3/point-to-point-module.h"
#include "ns3/traffic-control-module.h"

using namespace ns3;

int main(int argc, char **argv)
{
    double seconds = 10;
    CommandLine cmd;
    cmd.AddValue("seconds", "simulated seconds", seconds);
    cmd.Parse(argc, argv);
    if (!(seconds > 0)) {
        std::fprintf(stderr, "bulk_p2p: --seconds must be positive\n");
        return 2;
    }

    const uint32_t buf = 312500;
    Config::SetDefault("ns3::TcpL4Protocol::SocketType", TypeIdValue(TcpNewReno::GetTypeId()));
    /* RFC 6582 recovery, as twin does, rather than ns-3's default PRR. */
    Config::SetDefault("ns3::TcpL4Protocol::RecoveryType",
                       TypeIdValue(TcpClassicRecovery::GetTypeId()));
    Config::SetDefault("ns3::TcpSocket::SegmentSize", UintegerValue(1448));
    Config::SetDefault("ns3::TcpSocket::SndBufSize", UintegerValue(buf));
    Config::SetDefault("ns3::TcpSocket::RcvBufSize", UintegerValue(buf));
    Config::SetDefault("ns3::TcpSocket::InitialCwnd", UintegerValue(10));
    Config::SetDefault("ns3::TcpSocket::DelAckCount", UintegerValue(2));
    Config::SetDefault("ns3::TcpSocket::DelAckTimeout", TimeValue(MilliSeconds(40)));
    Config::SetDefault("ns3::TcpSocketBase::Sack", BooleanValue(false));
    Config::SetDefault("ns3::TcpSocketBase::Timestamp", BooleanValue(true));
    Config::SetDefault("ns3::TcpSocketBase::WindowScaling", BooleanValue(true));
    Config::SetDefault("ns3::TcpSocketBase::MinRto", TimeValue(MilliSeconds(200)));

    NodeContainer nodes;
    nodes.Create(2);
    PointToPointHelper p2p;
    p2p.SetDeviceAttribute("DataRate", StringValue("10Gbps"));
    p2p.SetDeviceAttribute("Mtu", UintegerValue(1500));
    p2p.SetChannelAttribute("Delay", StringValue("100us"));
    p2p.SetQueue("ns3::DropTailQueue", "MaxSize", QueueSizeValue(QueueSize("4096p")));
    NetDeviceContainer devs = p2p.Install(nodes);

    InternetStackHelper stack;
    stack.Install(nodes);
    Ipv4AddressHelper addr;
    addr.SetBase("10.0.0.0", "255.255.255.0");
    Ipv4InterfaceContainer ifs = addr.Assign(devs);
    /* Assign() put a pfifo_fast queue disc on each device; twin's link has
     * only its own queue. */
    TrafficControlHelper tch;
    tch.Uninstall(devs);

    const uint16_t port = 5001;
    BulkSendHelper send("ns3::TcpSocketFactory", InetSocketAddress(ifs.GetAddress(1), port));
    send.SetAttribute("MaxBytes", UintegerValue(0)); /* without end */
    send.SetAttribute("SendSize", UintegerValue(1448));
    ApplicationContainer src = send.Install(nodes.Get(0));
    src.Start(Seconds(0));
    PacketSinkHelper sink("ns3::TcpSocketFactory", InetSocketAddress(Ipv4Address::GetAny(), port));
    ApplicationContainer dst = sink.Install(nodes.Get(1));
    dst.Start(Seconds(0));

    Simulator::Stop(Seconds(seconds));
    auto t0 = std::chrono::steady_clock::now();
    Simulator::Run();
    auto t1 = std::chrono::steady_clock::now();
    double wall = std::chrono::duration<double>(t1 - t0).count();
    uint64_t bytes = DynamicCast<PacketSink>(dst.Get(0))->GetTotalRx();
    Simulator::Destroy();

    std::printf("ns3 bulk_p2p: simulated %.3f s, received %" PRIu64 " B (%.3f Mbps), wall %.3f s\n",
                seconds, bytes, (double)bytes * 8 / seconds / 1e6, wall);
    std::printf("bytes %" PRIu64 "\nwall_s %.6f\nsim_s %.6f\n", bytes, wall, seconds);
    return bytes > 0 ? 0 : 1;
}
