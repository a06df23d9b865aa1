#!/usr/bin/env bash
# Multi-node pretraining on Slurm: one task per node, each runs hfrecipes launch with 8 GPU processes.
# Submit from the repository root: sbatch --nodes 2 accelerate_configs/slurm.sh [recipe flags...]
#SBATCH --job-name=hfrecipes-pretrain
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=32
#SBATCH --exclusive
#SBATCH --output=logs/%x-%j.out
set -euo pipefail
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
HEAD=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
export HEAD GPUS_PER_NODE
srun bash -c 'hfrecipes launch --config_file accelerate_configs/multi_node.yaml \
  --num_machines "$SLURM_NNODES" --num_processes $((SLURM_NNODES * GPUS_PER_NODE)) \
  --machine_rank "$SLURM_NODEID" --main_process_ip "$HEAD" --main_process_port 29500 \
  recipes/pretrain.py --config recipes/configs/pretrain/gpt2_small.yaml "$@"' _ "$@"
