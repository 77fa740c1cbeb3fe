# SeqLab's app image: CPU-only torch pinned as in the Makefile, the project, a non-root user.
#   docker build -t seqlab .  &&  docker run -p 8501:8501 seqlab
# Several replicas behind nginx: deploy/compose.yaml.
FROM python:3.11-slim

# An unpinned torch from PyPI would pull several GB of CUDA packages; the CPU index has the CPU wheel.
ARG TORCH_SPEC=torch==2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    OMP_NUM_THREADS=1

WORKDIR /app
RUN pip install --index-url "$TORCH_INDEX" "$TORCH_SPEC"
COPY pyproject.toml README.md ./
COPY models models
COPY viz viz
RUN pip install .
COPY app.py ./
COPY pages pages
COPY assets assets
COPY .streamlit .streamlit

RUN useradd --create-home --uid 10001 seqlab
USER seqlab

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://localhost:8501/_stcore/health', timeout=4)"]
CMD ["streamlit", "run", "app.py", "--server.port=8501", "--server.address=0.0.0.0", "--server.headless=true", \
     "--server.fileWatcherType=none", "--browser.gatherUsageStats=false"]
