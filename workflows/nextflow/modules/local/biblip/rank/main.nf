// nf-core style module: rank a patient's variants against HPO phenotypes with biblip.
process BIBLIP_RANK {
    tag "${meta.id}"
    label 'process_medium'
    accelerator params.biblip_gpus ?: 0

    input:
    tuple val(meta), path(vcf), val(phenotypes)
    path bundle
    path model

    output:
    tuple val(meta), path("*.rank.vcf.gz")  , emit: vcf
    tuple val(meta), path("*.rank.tsv")     , emit: tsv
    tuple val(meta), path("*.genes.tsv")    , emit: genes
    tuple val(meta), path("*.report.html")  , emit: html
    path "versions.yml"                     , emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args   = task.ext.args ?: ''
    def prefix = task.ext.prefix ?: "${meta.id}"
    def sample = meta.sample ? "--sample ${meta.sample}" : ''
    """
    biblip rank ${vcf} \\
        --phenotype ${phenotypes} \\
        ${sample} \\
        --bundle ${bundle} \\
        --model ${model} \\
        --threads ${task.cpus} \\
        --output-type z \\
        -o ${prefix}.rank.vcf.gz \\
        --tsv ${prefix}.rank.tsv \\
        --gene-tsv ${prefix}.genes.tsv \\
        --html ${prefix}.report.html \\
        ${args}

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biblip: \$(biblip --version | sed 's/^biblip //')
    END_VERSIONS
    """

    stub:
    def args   = task.ext.args ?: ''
    def prefix = task.ext.prefix ?: "${meta.id}"
    def sample = meta.sample ? "--sample ${meta.sample}" : ''
    """
    echo "biblip rank ${vcf} --phenotype ${phenotypes} ${sample} --bundle ${bundle} --model ${model} --threads ${task.cpus} --output-type z -o ${prefix}.rank.vcf.gz --tsv ${prefix}.rank.tsv --gene-tsv ${prefix}.genes.tsv --html ${prefix}.report.html ${args}" > ${prefix}.command.txt
    echo "" | gzip > ${prefix}.rank.vcf.gz
    touch ${prefix}.rank.tsv ${prefix}.genes.tsv ${prefix}.report.html

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biblip: \$(biblip --version | sed 's/^biblip //')
    END_VERSIONS
    """
}
