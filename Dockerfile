# Florilege service on a GPU server: gunicorn + onnxruntime-gpu (CUDA 12, cuDNN 9).
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04

# Python 3.11, the project's version, from the deadsnakes archive (Ubuntu 22.04 ships 3.10).
RUN apt-get update \
    && apt-get install -y --no-install-recommends software-properties-common \
    && add-apt-repository -y ppa:deadsnakes/ppa \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv \
    && rm -rf /var/lib/apt/lists/*
RUN python3.11 -m venv /opt/florilege
ENV PATH=/opt/florilege/bin:$PATH \
    FLORILEGE_DATA=/data \
    FLORILEGE_PROVIDERS=CUDAExecutionProvider,CPUExecutionProvider

WORKDIR /src
COPY pyproject.toml README.md ./
COPY service ./service
COPY training ./training
# The gpu extra brings onnxruntime-gpu and never the CPU onnxruntime (they conflict).
RUN pip install --no-cache-dir ".[gpu]"

VOLUME /data
EXPOSE 8000
CMD ["gunicorn", "-c", "service/gunicorn.conf.py", "service.app:create_app()"]
