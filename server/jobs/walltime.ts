// Walltime notation shared by Slurm (`-t`) and PBS (`-l walltime=`): both accept HH:MM:SS.
// Slurm rounds up to whole minutes; PBS keeps seconds.

export function formatWalltime(seconds: number): string {
  const total = Math.ceil(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return [h, m, s].map(n => String(n).padStart(2, '0')).join(':');
}
