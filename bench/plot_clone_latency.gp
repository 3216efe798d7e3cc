# Clone latency vs source size: ditto over CSI, raw FICLONE (the floor) and a
# full sparse-aware copy. Usage:
#   gnuplot -e "data='clone_latency.dat'; out='clone_latency.png'" plot_clone_latency.gp
if (!exists("data")) data = 'clone_latency.dat'
if (!exists("out")) out = 'clone_latency.png'
set terminal pngcairo size 960,600 enhanced font 'Sans,11'
set output out
set title 'Clone latency vs source size (p50, bars: p50..p90; log-log)'
set xlabel 'source volume size (fully written with random data)'
set ylabel 'latency (ms)'
set logscale xy
set grid xtics ytics mytics
set key top left box opaque
set xtics ('64 MiB' 64, '256 MiB' 256, '1 GiB' 1024, '4 GiB' 4096, '16 GiB' 16384)
set xrange [40:26000]
set format y '10^{%L}'
plot data using 1:2:2:3 with yerrorlines lw 2 pt 7 ps 1.2 lc rgb '#1b7837' title 'ditto clone (CreateVolume over CSI)', \
     data using 1:4:4:5 with yerrorlines lw 2 pt 5 ps 1.1 lc rgb '#2166ac' title 'raw FICLONE (floor)', \
     data using 1:6 with linespoints lw 1 dt 2 pt 4 ps 1.0 lc rgb "#5aaedc" title "FICLONE + fsync", \
     data using 1:9 with linespoints lw 1 dt 3 pt 6 ps 1.0 lc rgb "#7b3294" title "FICLONE, fsync, rename, fsync dir (no catalog)", \
     data using 1:7:7:8 with yerrorlines lw 2 pt 9 ps 1.2 lc rgb '#b2182b' title 'full sparse-aware copy + fsync'
